"""The Go runtime and connection-pool readings of each simulated service, as a pure function of time and fault."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from collector.demo.faults import Fault, Schedule
from collector.demo.shop import POOLS

MIB = 1 << 20
POOL_MAX = 10  # connections per pool (db.client.connection.max)
GC_PER_SECOND = 2
# Goroutines (count) and heap (bytes) of each service at rest.
_AT_REST = {"frontend": (180, 48 * MIB), "checkout": (120, 64 * MIB), "payments": (90, 32 * MIB)}
# What a leak adds per second it lasts.
LEAK_GOROUTINES = 40
LEAK_BYTES = 4 * MIB
_STACK_BYTES = 8 << 10  # per goroutine


@dataclass(frozen=True, slots=True)
class Reading:
    """What a service's runtime and pool report in one second."""

    goroutines: int  # go.goroutine.count
    heap_bytes: int  # go.memory.used {go.memory.type: other}
    stack_bytes: int  # go.memory.used {go.memory.type: stack}
    gc_goal_bytes: int  # go.memory.gc.goal
    allocated_bytes: int  # go.memory.allocated (cumulative)
    gc_count: int  # process.runtime.go.gc.count (cumulative)
    gc_pauses_ns: tuple[int, ...]  # process.runtime.go.gc.pause_ns: this second's stop-the-world pauses
    pool_used: int  # db.client.connection.count {state: used}; 0 without a pool
    pool_pending: int  # db.client.connection.pending_requests


class Runtime:
    """Readings of one service over the demo. The same second always gives the same reading."""

    def __init__(self, service: str, schedule: Schedule, seed: int = 0) -> None:
        self.service = service
        self.has_pool = service in POOLS
        self._schedule = schedule
        self._seed = seed
        self._goroutines, self._heap = _AT_REST[service]

    def at(self, t: float) -> Reading:
        """The reading of the second `t` falls in (seconds into the demo)."""
        t = float(math.floor(t))
        rng = random.Random(f"{self._seed}:{self.service}:{t:.0f}")
        fault = self._schedule.on(self.service, t)
        # A leak grows while it lasts; when the fault ends the service is back at rest (fixed and restarted).
        leaked = self._schedule.elapsed(t) if fault is Fault.LEAK else 0.0
        goroutines = self._goroutines + rng.randint(-8, 8) + int(LEAK_GOROUTINES * leaked)
        heap = self._heap + rng.randint(0, 8 * MIB) + int(LEAK_BYTES * leaked)
        # A bigger heap takes longer to scan: pauses lengthen by about 0.2 ms per MiB grown.
        pause_ms = 0.3 + 0.2 * (heap - self._heap) / MIB
        pauses = tuple(int(pause_ms * math.exp(rng.gauss(0.0, 0.3)) * 1e6) for _ in range(GC_PER_SECOND))
        used, pending = 0, 0
        if self.has_pool:
            # Slow requests hold every connection, so callers queue for one.
            used, pending = (POOL_MAX, rng.randint(4, 12)) if fault is Fault.LATENCY else (rng.randint(1, 4), 0)
        return Reading(
            goroutines=goroutines,
            heap_bytes=heap,
            stack_bytes=goroutines * _STACK_BYTES,
            gc_goal_bytes=2 * heap,
            allocated_bytes=int(t * 24 * MIB),
            gc_count=int(t * GC_PER_SECOND),
            gc_pauses_ns=pauses,
            pool_used=used,
            pool_pending=pending,
        )
