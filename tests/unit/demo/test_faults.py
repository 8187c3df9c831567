"""The fault schedule: healthy traffic, then the fault on one service for its length, then healthy again."""

from __future__ import annotations

import pytest

from collector.demo.faults import Fault, Schedule, clock, default_length


def test_fault_is_active_only_on_its_service_and_only_during_its_time() -> None:
    schedule = Schedule(Fault.ERRORS, "checkout", after=20, length=60)

    assert [schedule.active(t) for t in (0, 19.9, 20, 79.9, 80, 500)] == [
        Fault.NONE, Fault.NONE, Fault.ERRORS, Fault.ERRORS, Fault.NONE, Fault.NONE,
    ]
    assert schedule.on("checkout", 30) is Fault.ERRORS
    assert schedule.on("payments", 30) is Fault.NONE
    assert schedule.on("frontend", 30) is Fault.NONE
    assert schedule.end == 80


def test_elapsed_counts_from_the_start_of_the_fault() -> None:
    schedule = Schedule(Fault.LEAK, "payments", after=10, length=30)

    assert [schedule.elapsed(t) for t in (5, 10, 25, 40)] == [0, 0, 15, 0]


def test_no_fault_is_never_active() -> None:
    schedule = Schedule(Fault.NONE, "checkout", after=0, length=1000)

    assert {schedule.active(t) for t in range(0, 1000, 7)} == {Fault.NONE}
    assert schedule.describe(50) == "none"
    assert schedule.expectation() is None


def test_status_text_says_when_the_fault_comes_lasts_and_ended() -> None:
    schedule = Schedule(Fault.LATENCY, "checkout", after=20, length=60)

    assert schedule.describe(5) == "none (latency on checkout at 0:20)"
    assert schedule.describe(30) == "latency on checkout (until 1:20)"
    assert schedule.describe(95) == "none (latency on checkout ended at 1:20)"


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "0:00"), (9.9, "0:09"), (75.2, "1:15"), (3600, "60:00"), (-1, "0:00")]
)
def test_clock(seconds: float, text: str) -> None:
    assert clock(seconds) == text


def test_a_silence_outlasts_the_window_of_the_absent_rules() -> None:
    # The absent rules of rules/http.yaml need 5 minutes without spans, judged 5 s late every 10 s.
    assert default_length(Fault.SILENCE) > 5 * 60 + 5 + 10
    assert default_length(Fault.ERRORS) == 60


def test_expectation_names_the_rule_for_the_faulted_service() -> None:
    assert "ServiceNoTraffic (P0) for checkout" in (Schedule(Fault.SILENCE, "checkout").expectation() or "")
    assert "ServiceNoTraffic (P0) for payments" in (Schedule(Fault.SILENCE, "payments").expectation() or "")
    assert "ShopPanics" in (Schedule(Fault.PANIC, "checkout").expectation() or "")
