"""The faults `vigil demo` injects, when each one is active, and which example rule it is meant to trip."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Fault(enum.StrEnum):
    NONE = "none"
    ERRORS = "errors"  # a share of requests fail with 500, span status ERROR and an ERROR log
    LATENCY = "latency"  # a share of requests wait over a second for a database connection
    PANIC = "panic"  # a share of requests panic; a recover() middleware answers 500 and logs it
    LEAK = "leak"  # goroutines and heap grow steadily (requests still succeed)
    SILENCE = "silence"  # the service keeps serving but none of its telemetry reaches Vigil


# Share of the faulted service's requests that each fault hits.
ERROR_SHARE = 0.4
SLOW_SHARE = 0.05
PANIC_SHARE = 0.02
# How long a slow request waits for a connection, in milliseconds (uniform between the two).
SLOW_WAIT_MS = (1200.0, 1800.0)

DEFAULT_AFTER = 20.0
DEFAULT_LENGTH = 60.0
# Faults whose example rule needs longer than DEFAULT_LENGTH to fire (evaluation.delay 5s), with a
# minute or so to spare over what a real Vigil took:
# - latency: DbPoolExhausted wants a whole 1m window of queueing, then `for: 2m`: fired 3m06s in;
# - leak: GoGcPauseHigh wants p99 pauses over 50 ms for `for: 5m`: fired 6m36s in;
# - silence: the absent rules want a whole 5m window (15 s buckets) without a span: fired 5m12s in.
_LENGTHS = {Fault.LATENCY: 240.0, Fault.LEAK: 480.0, Fault.SILENCE: 360.0}

# What a newcomer should look for with the example rules of rules/, by fault.
_EXPECT = {
    Fault.ERRORS: "ShopHttpErrorRatio (P0) for {service} and its callers about a minute into the fault"
    " (rules/http.yaml)",
    Fault.LATENCY: "DbPoolExhausted (P1) about 3.5m into the fault when {service} has a database"
    " (rules/dependencies.yaml); ShopLatencyP99Anomaly (P1) only after its 6h of baseline history",
    Fault.PANIC: "ShopPanics (P0) within about half a minute (rules/logs.yaml)",
    Fault.LEAK: "GoGcPauseHigh (P1) about 6m into the leak (rules/go-runtime.yaml); GoGoroutineGrowth and"
    " GoHeapGrowth (P2) only after their baselines have learned",
    Fault.SILENCE: "ServiceNoTraffic (P0) for {service} about 5m into the silence (rules/http.yaml)",
}


def default_length(fault: Fault) -> float:
    """Seconds a fault lasts when `--fault-for` is not given."""
    return _LENGTHS.get(fault, DEFAULT_LENGTH)


def clock(seconds: float) -> str:
    """`75.2` → `1:15`: elapsed demo time as the status lines print it."""
    whole = max(0, int(seconds))
    return f"{whole // 60}:{whole % 60:02d}"


@dataclass(frozen=True, slots=True)
class Schedule:
    """One fault on one service: `after` seconds of healthy traffic, then `length` seconds of fault, then healthy."""

    fault: Fault
    service: str
    after: float = DEFAULT_AFTER
    length: float = DEFAULT_LENGTH

    @property
    def end(self) -> float:
        return self.after + self.length

    def active(self, t: float) -> Fault:
        """The fault in force `t` seconds into the demo (NONE before and after its time)."""
        if self.fault is Fault.NONE or not self.after <= t < self.end:
            return Fault.NONE
        return self.fault

    def on(self, service: str, t: float) -> Fault:
        """The fault `service` suffers at `t`."""
        return self.active(t) if service == self.service else Fault.NONE

    def elapsed(self, t: float) -> float:
        """Seconds the fault has been in force at `t` (0 when it is not)."""
        return t - self.after if self.active(t) is not Fault.NONE else 0.0

    def describe(self, t: float) -> str:
        """The fault part of a status line."""
        if self.fault is Fault.NONE:
            return "none"
        what = f"{self.fault} on {self.service}"
        if t < self.after:
            return f"none ({what} at {clock(self.after)})"
        if t < self.end:
            return f"{what} (until {clock(self.end)})"
        return f"none ({what} ended at {clock(self.end)})"

    def expectation(self) -> str | None:
        """Which example rule this fault should trip, or None without a fault."""
        text = _EXPECT.get(self.fault)
        return text.format(service=self.service) if text else None
