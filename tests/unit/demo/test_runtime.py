"""The runtime metric values each fault produces: goroutines, heap, GC pauses and the connection pool."""

from __future__ import annotations

from collector.demo.faults import Fault, Schedule
from collector.demo.runtime import MIB, POOL_MAX, Runtime

FIFTY_MS_NS = 50_000_000  # GoGcPauseHigh's threshold


def test_healthy_services_are_steady() -> None:
    schedule = Schedule(Fault.NONE, "checkout")
    for service in ("frontend", "checkout", "payments"):
        readings = [Runtime(service, schedule).at(t) for t in range(300)]
        goroutines = [r.goroutines for r in readings]
        assert max(goroutines) - min(goroutines) <= 16
        assert max(r.heap_bytes for r in readings) - min(r.heap_bytes for r in readings) <= 8 * MIB
        assert max(p for r in readings for p in r.gc_pauses_ns) < FIFTY_MS_NS / 10
        assert all(r.pool_pending == 0 for r in readings)


def test_only_services_with_a_database_have_a_pool() -> None:
    schedule = Schedule(Fault.NONE, "checkout")

    assert not Runtime("frontend", schedule).has_pool
    assert Runtime("checkout", schedule).has_pool
    assert Runtime("payments", schedule).has_pool
    assert 1 <= Runtime("checkout", schedule).at(5).pool_used <= 4


def test_leak_grows_goroutines_and_heap_while_it_lasts_then_they_are_back_at_rest() -> None:
    schedule = Schedule(Fault.LEAK, "checkout", after=20, length=60)
    runtime = Runtime("checkout", schedule)
    before = runtime.at(10)

    during = [runtime.at(t) for t in range(20, 80, 10)]

    assert [r.goroutines for r in during] == sorted(r.goroutines for r in during)
    assert during[-1].goroutines - before.goroutines > 1900  # 40 a second for 50 s
    assert during[-1].heap_bytes - before.heap_bytes > 190 * MIB
    assert during[-1].stack_bytes > before.stack_bytes
    after = runtime.at(90)
    assert abs(after.goroutines - before.goroutines) <= 16
    assert abs(after.heap_bytes - before.heap_bytes) <= 8 * MIB
    # The other services do not leak.
    assert Runtime("payments", schedule).at(70).goroutines < 120


def test_a_long_leak_lengthens_gc_pauses_past_fifty_milliseconds() -> None:
    runtime = Runtime("checkout", Schedule(Fault.LEAK, "checkout", after=0, length=600))

    assert max(runtime.at(5).gc_pauses_ns) < FIFTY_MS_NS
    assert min(runtime.at(120).gc_pauses_ns) > FIFTY_MS_NS


def test_latency_exhausts_the_faulted_service_pool_for_the_whole_fault() -> None:
    schedule = Schedule(Fault.LATENCY, "checkout", after=20, length=60)
    checkout, payments = Runtime("checkout", schedule), Runtime("payments", schedule)

    during = [checkout.at(t) for t in range(20, 80)]

    # DbPoolExhausted measures the minimum over its window: it must stay above 0 throughout.
    assert min(r.pool_pending for r in during) > 0
    assert {r.pool_used for r in during} == {POOL_MAX}
    assert checkout.at(10).pool_pending == 0
    assert checkout.at(80).pool_pending == 0
    assert all(payments.at(t).pool_pending == 0 for t in range(20, 80))


def test_cumulative_readings_never_go_down_and_a_second_always_reads_the_same() -> None:
    runtime = Runtime("payments", Schedule(Fault.LEAK, "payments", after=5, length=10), seed=4)
    readings = [runtime.at(t) for t in range(30)]

    assert [r.gc_count for r in readings] == sorted(r.gc_count for r in readings)
    assert [r.allocated_bytes for r in readings] == sorted(r.allocated_bytes for r in readings)
    assert runtime.at(7.2) == runtime.at(7.9)
    assert Runtime("payments", Schedule(Fault.LEAK, "payments", after=5, length=10), seed=4).at(7.5) == runtime.at(7)
