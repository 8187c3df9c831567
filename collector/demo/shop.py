"""The simulated shop (frontend → checkout → payments): what one request does and how it ends, planned without I/O.

A request is planned as a tree of `Served` calls with times relative to its start;
`collector.demo.telemetry` turns the tree into spans and logs afterwards. Planning
first keeps the outcome of every fault testable without a network or a clock.
"""

from __future__ import annotations

import logging
import math
import random
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from collector.demo.faults import ERROR_SHARE, PANIC_SHARE, SLOW_SHARE, SLOW_WAIT_MS, Fault, Schedule

SERVICES = ("frontend", "checkout", "payments")

PANIC_TEXT = "panic: runtime error: invalid memory address or nil pointer dereference"


@dataclass(frozen=True, slots=True)
class Route:
    """One HTTP route of one service: its own work, its database statement, and the route it calls."""

    service: str
    method: str
    template: str  # http.route
    work_ms: float  # median time the handler spends on its own
    query: tuple[str, str] | None = None  # (operation, table) of the statement it runs
    downstream: Route | None = None

    @property
    def name(self) -> str:
        return f"{self.method} {self.template}"


PAYMENTS = Route("payments", "POST", "/charges", 8.0, ("INSERT", "charges"))
CHECKOUT = Route("checkout", "POST", "/orders", 3.0, ("INSERT", "orders"), PAYMENTS)
# The frontend's routes, and the share of the traffic each one gets.
ENTRY: tuple[tuple[Route, float], ...] = (
    (Route("frontend", "GET", "/", 4.0), 0.25),
    (Route("frontend", "GET", "/products/{id}", 6.0), 0.35),
    (Route("frontend", "POST", "/checkout", 2.0, None, CHECKOUT), 0.40),
)

# Every route of every service, callers first.
ROUTES: tuple[Route, ...] = (*(r for r, _ in ENTRY), CHECKOUT, PAYMENTS)
# db.client.connection.pool.name of each service that has a database.
POOLS = {"checkout": "orders", "payments": "ledger"}


@dataclass(frozen=True, slots=True)
class Log:
    at_ms: float  # since the start of the request
    level: int  # a `logging` level
    message: str


@dataclass(frozen=True, slots=True)
class Query:
    """A database statement: a CLIENT span of the service that runs it."""

    operation: str
    table: str
    pool: str
    start_ms: float
    duration_ms: float
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Hop:
    """A call to another service: a CLIENT span, and the callee's `Served` unless the breaker failed it fast."""

    route: Route  # the callee's route
    start_ms: float
    duration_ms: float
    status: int
    served: Served | None


@dataclass(frozen=True, slots=True)
class Served:
    """One service handling one request: a SERVER span with its logs, its statement and its downstream call."""

    route: Route
    path: str  # url.path
    start_ms: float
    duration_ms: float
    status: int
    error: str | None  # why it answered 5xx
    logs: tuple[Log, ...]
    query: Query | None = None
    hop: Hop | None = None

    @property
    def failed(self) -> bool:
        return self.status >= 500

    def walk(self) -> Iterator[Served]:
        """This call and every call below it, callers first."""
        yield self
        if self.hop is not None and self.hop.served is not None:
            yield from self.hop.served.walk()


class Breaker:
    """A circuit breaker around calls to one service.

    It opens when `trip` of the last `size` calls failed, fails every call fast
    for `cooldown` seconds, then closes and counts afresh.
    """

    def __init__(self, name: str, size: int = 20, trip: int = 16, cooldown: float = 5.0) -> None:
        self.name = name
        self._recent: deque[bool] = deque(maxlen=size)
        self._trip = trip
        self._cooldown = cooldown
        self._open_until = -math.inf

    def is_open(self, t: float) -> bool:
        return t < self._open_until

    def record(self, t: float, failed: bool) -> None:
        self._recent.append(failed)
        if len(self._recent) == self._recent.maxlen and sum(self._recent) >= self._trip:
            self._open_until = t + self._cooldown
            self._recent.clear()


class Shop:
    """Plans requests as the fault schedule dictates. Not thread-safe: one planner per demo."""

    def __init__(self, schedule: Schedule, rng: random.Random) -> None:
        self.schedule = schedule
        self._rng = rng
        # The breaker a caller keeps around its downstream service, keyed by the caller.
        self.breakers = {r.service: Breaker(r.downstream.service) for r in ROUTES if r.downstream is not None}

    def request(self, t: float) -> Served:
        """One request to the frontend, `t` seconds into the demo."""
        routes = [r for r, _ in ENTRY]
        route = self._rng.choices(routes, weights=[w for _, w in ENTRY])[0]
        return self._serve(route, 0.0, t)

    def _ms(self, median: float) -> float:
        return median * math.exp(self._rng.gauss(0.0, 0.45))

    def _hit(self, share: float) -> bool:
        return self._rng.random() < share

    def _serve(self, route: Route, start: float, t: float) -> Served:
        fault = self.schedule.on(route.service, t)
        path = route.template.replace("{id}", str(self._rng.randint(1, 500)))
        work = self._ms(route.work_ms)
        cursor = start + work / 2
        logs: list[Log] = []
        status, error = 200, None
        query: Query | None = None
        hop: Hop | None = None
        if fault is Fault.PANIC and self._hit(PANIC_SHARE):
            status, error = 500, PANIC_TEXT
            logs.append(Log(cursor, logging.ERROR, _panic_log(route, path, self._rng.randint(100, 9999))))
        else:
            cursor, query, error = self._own_io(route, path, fault, cursor, logs)
            if error is not None:
                status = 500
            elif route.downstream is not None:
                hop = self._call(route, route.downstream, cursor, t)
                cursor += hop.duration_ms
                if hop.status >= 500:
                    status = 502
                    error = f"{hop.route.service} {hop.route.name} answered {hop.status}"
                    if hop.served is None:
                        error = f"circuit breaker {hop.route.service} is open"
                    logs.append(Log(cursor, logging.ERROR, f"call {hop.route.service} {hop.route.name}: {error}"))
        cursor += work / 2
        if status < 500:
            logs.append(Log(cursor, logging.INFO, self._success(route, path, status, cursor - start)))
        return Served(route, path, start, cursor - start, status, error, tuple(logs), query, hop)

    def _own_io(
        self, route: Route, path: str, fault: Fault, cursor: float, logs: list[Log]
    ) -> tuple[float, Query | None, str | None]:
        """The handler's own I/O (its statement, or the frontend's session store) under `fault`.

        Returns the time it ends, the statement, and the error that fails the request (None if it succeeded).
        """
        slow = fault is Fault.LATENCY and self._hit(SLOW_SHARE)
        broken = fault is Fault.ERRORS and self._hit(ERROR_SHARE)
        wait = self._rng.uniform(*SLOW_WAIT_MS) if slow else 0.0
        query: Query | None = None
        if route.query is not None:
            operation, table = route.query
            pool = POOLS[route.service]
            if slow:
                message = f"waited {wait:.0f} ms for a connection of pool {pool}"
                logs.append(Log(cursor + wait, logging.WARNING, message))
            failure = "ERROR: deadlock detected (SQLSTATE 40P01)" if broken else None
            step = f"{operation.lower()} into {table}"
            query = Query(operation, table, pool, cursor, wait + self._ms(4.0), failure)
            cursor += query.duration_ms
        else:
            if slow:
                logs.append(Log(cursor + wait, logging.WARNING, f"session store answered after {wait:.0f} ms"))
            failure = "session store: i/o timeout" if broken else None
            step = "load session"
            cursor += wait
        if failure is not None:
            logs.append(Log(cursor, logging.ERROR, f"{route.name} {path}: {step}: {failure}"))
        return cursor, query, failure

    def _call(self, caller: Route, callee: Route, start: float, t: float) -> Hop:
        breaker = self.breakers[caller.service]
        if breaker.is_open(t):
            return Hop(callee, start, 0.1, 503, None)
        served = self._serve(callee, start + self._ms(0.4), t)
        end = served.start_ms + served.duration_ms + self._ms(0.4)
        breaker.record(t, served.failed)
        return Hop(callee, start, end - start, served.status, served)

    def _success(self, route: Route, path: str, status: int, took: float) -> str:
        number = self._rng.randint(10_000, 99_999)
        if route.service == "checkout":
            return f"order {number} placed"
        if route.service == "payments":
            return f"charge ch_{number} authorized"
        return f"{route.method} {path} {status} {took:.1f}ms"


def _panic_log(route: Route, path: str, goroutine: int) -> str:
    """A recover() middleware's log of a nil pointer dereference, as a Go service writes it."""
    handler = route.template.strip("/").split("/")[0].title() or "Home"
    return (
        f"recovered from panic serving {route.method} {path}: {PANIC_TEXT}\n"
        "[signal SIGSEGV: segmentation violation code=0x1 addr=0x18 pc=0x6f1c2a]\n\n"
        f"goroutine {goroutine} [running]:\n"
        f"main.(*{handler}Handler).ServeHTTP(0xc0001a4000, {{0x8a1f40, 0xc0002be000}}, 0xc0003c2100)\n"
        f"\t/src/{route.service}/handlers.go:88 +0x1ca\n"
        "net/http.HandlerFunc.ServeHTTP(...)\n"
        "\t/usr/local/go/src/net/http/server.go:2171"
    )
