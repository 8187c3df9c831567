"""`vigil demo`: plays the simulated shop against a running Vigil and prints what it sends, once a second."""

from __future__ import annotations

import argparse
import random
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from urllib.parse import urlsplit

from collector.demo.faults import DEFAULT_AFTER, DEFAULT_LENGTH, Fault, Schedule, clock, default_length
from collector.demo.runtime import Runtime
from collector.demo.shop import SERVICES, Shop
from collector.demo.telemetry import Protocol, ServiceTelemetry, Target, shutdown
from collector.demo.tracing import emit

HTTP_ENDPOINT = "http://127.0.0.1:4318"
GRPC_ENDPOINT = "127.0.0.1:4317"


def _positive(text: str) -> float:
    value = _non_negative(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, not {text}")
    return value


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number of at least 0, not {text}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vigil demo",
        description="Play a small shop (frontend → checkout → payments) against a running Vigil with the "
        "OpenTelemetry SDK: traces, logs with trace IDs and Go runtime metrics. Inject a fault to watch an "
        "incident fire and resolve with the example rules.",
    )
    parser.add_argument(
        "--endpoint", help=f"Vigil's OTLP endpoint (default {HTTP_ENDPOINT}; with --protocol grpc {GRPC_ENDPOINT})"
    )
    parser.add_argument(
        "--protocol", choices=["http/protobuf", "grpc"], default="http/protobuf", help="(default http/protobuf)"
    )
    parser.add_argument("--rate", type=_positive, default=20.0, help="requests per second (default 20)")
    parser.add_argument("--duration", type=_positive, help="seconds to run (default: until Ctrl-C)")
    parser.add_argument(
        "--fault", choices=[f.value for f in Fault], default="none", help="fault to inject (default none)"
    )
    parser.add_argument(
        "--fault-after",
        type=_non_negative,
        default=DEFAULT_AFTER,
        help=f"seconds of healthy traffic before the fault (default {DEFAULT_AFTER:g})",
    )
    parser.add_argument(
        "--fault-for",
        type=_positive,
        help=f"seconds the fault lasts before traffic is healthy again (default {DEFAULT_LENGTH:g}; latency "
        f"{default_length(Fault.LATENCY):g}, leak {default_length(Fault.LEAK):g}, silence "
        f"{default_length(Fault.SILENCE):g}: long enough for their example rules to fire)",
    )
    parser.add_argument(
        "--service", choices=SERVICES, default="checkout", help="service the fault hits (default checkout)"
    )
    parser.add_argument(
        "--export-interval", type=_positive, default=1.0, help="seconds between exports of each signal (default 1)"
    )
    parser.add_argument("--token", help="bearer token, when Vigil's auth.ingest_tokens is set")
    parser.add_argument("--seed", type=int, help="random seed, to replay the same traffic")
    return parser


def _unreachable(endpoint: str) -> str | None:
    """Why nothing listens at `endpoint`, or None when a TCP connection succeeds."""
    try:
        url = urlsplit(endpoint if "://" in endpoint else f"//{endpoint}")
        port = url.port or (443 if url.scheme == "https" else 80)
    except ValueError as exc:
        return str(exc)
    try:
        with socket.create_connection((url.hostname or "127.0.0.1", port), timeout=2.0):
            return None
    except OSError as exc:
        return exc.strerror or str(exc)


@dataclass
class Totals:
    requests: int = 0
    errors: int = 0  # requests the frontend answered with a 5xx: what users saw fail


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Ctrl-C and SIGTERM end the demo between two requests, so the providers can flush."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


class Demo:
    """The shop, its services' telemetry, and the clock that paces requests and status lines."""

    def __init__(self, schedule: Schedule, target: Target, rate: float, seed: int) -> None:
        self.schedule = schedule
        self.rate = rate
        self.shop = Shop(schedule, random.Random(seed))
        self.runtimes = {s: Runtime(s, schedule, seed) for s in SERVICES}
        breakers = {caller: b.name for caller, b in self.shop.breakers.items()}
        self.services: Mapping[str, ServiceTelemetry] = {
            s: ServiceTelemetry(s, target, self.runtimes[s], breakers.get(s)) for s in SERVICES
        }
        self.totals = Totals()

    def export_failures(self) -> int:
        return sum(s.gate.failures for s in self.services.values())

    def run(self, duration: float | None, stop: threading.Event) -> float:
        """Send requests until `duration` seconds have passed or `stop` is set; returns the seconds played."""
        start = time.monotonic()
        due, tick = 0.0, 0.0
        shown = Totals()
        while True:
            t = time.monotonic() - start
            over = stop.is_set() or (duration is not None and t >= duration)
            played = min(t, duration) if duration is not None else t
            # Every second played gets its status line, also when a busy machine wakes the loop late.
            while tick <= played:
                self._tick(tick, shown)
                shown = Totals(self.totals.requests, self.totals.errors)
                tick += 1.0
            if over:
                return played
            while due <= t:
                self._request(due)
                due += 1.0 / self.rate
            wake = min(due, tick, duration if duration is not None else tick)
            stop.wait(max(0.0, wake - (time.monotonic() - start)))

    def _request(self, t: float) -> None:
        request = self.shop.request(t)
        emit(request, self.services, time.time_ns())
        self.totals.requests += 1
        self.totals.errors += request.failed

    def _tick(self, t: float, shown: Totals) -> None:
        """Once a second: each service's runtime reading, who is silenced, and a status line."""
        for name, service in self.services.items():
            breaker = self.shop.breakers.get(name)
            service.observe(self.runtimes[name].at(t), breaker is not None and breaker.is_open(t))
            service.gate.open = self.schedule.on(name, t) is not Fault.SILENCE
        if t == 0:
            return
        line = (
            f"{clock(t):>6}  requests {self.totals.requests:>6} (+{self.totals.requests - shown.requests})"
            f"  errors {self.totals.errors:>5} (+{self.totals.errors - shown.errors})"
            f"  fault {self.schedule.describe(t)}"
        )
        failures = self.export_failures()
        print(line + (f"  export failures {failures}" if failures else ""), flush=True)


def _flush(demo: Demo) -> bool:
    """Shut every provider down, flushing what it buffered; False when a second Ctrl-C cut that short."""
    try:
        shutdown(demo.services.values())
    except KeyboardInterrupt:
        print("vigil demo: interrupted before the last telemetry was flushed", file=sys.stderr)
        return False
    return True


def main(argv: Sequence[str]) -> int:
    """Run `vigil demo`; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    protocol: Protocol = args.protocol
    endpoint: str = args.endpoint or (GRPC_ENDPOINT if protocol == "grpc" else HTTP_ENDPOINT)
    problem = _unreachable(endpoint)
    if problem is not None:
        print(f"vigil demo: cannot reach Vigil at {endpoint}: {problem} (is `vigil run` running?)", file=sys.stderr)
        return 1
    fault = Fault(args.fault)
    length = args.fault_for if args.fault_for is not None else default_length(fault)
    schedule = Schedule(fault, args.service, args.fault_after, length)
    seed = args.seed if args.seed is not None else random.randrange(1 << 32)
    demo = Demo(schedule, Target(endpoint, protocol, args.token, args.export_interval), args.rate, seed)
    until = f"for {clock(args.duration)}" if args.duration is not None else "until Ctrl-C"
    print(
        f"vigil demo: frontend → checkout → payments at {args.rate:g} requests/s, {protocol} to {endpoint}, {until}",
        flush=True,
    )
    expect = schedule.expectation()
    if expect is not None:
        print(
            f"fault {fault} on {schedule.service} from {clock(schedule.after)} to {clock(schedule.end)};"
            f" with the example rules watch for {expect}",
            flush=True,
        )
    stop = threading.Event()
    try:
        with _stop_on_signals(stop):
            played = demo.run(args.duration, stop)
    finally:
        flushed = _flush(demo)  # also when the run failed: what is buffered still goes out
    if not flushed:
        return 130
    totals = demo.totals
    share = f" ({100 * totals.errors / totals.requests:.1f}%)" if totals.requests else ""
    print(f"stopped after {clock(played)}: {totals.requests} requests, {totals.errors} answered 5xx{share}")
    failures = demo.export_failures()
    if failures:
        print(f"{failures} exports failed: is Vigil still running at {endpoint}, and does it accept the token?")
    else:
        print(f"all telemetry flushed to {endpoint}")
    return 0
