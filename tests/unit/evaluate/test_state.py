"""The alert lifecycle for one series, step by step."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from collector.evaluate.state import Change, Instance, Observation, Phase, Timing, advance, fingerprint
from collector.model import ResolveReason

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
S = timedelta(seconds=1)


def create() -> Instance:
    return Instance("fp", "R", "h", {"alertname": "R"}, Phase.PENDING, datetime.min)


def value(v: float, threshold: float = 0.03, recover: float | None = None) -> Observation:
    breach = v > threshold
    clear = v < recover if recover is not None else not breach
    return Observation(v, breach, clear)


def run(values: list[Observation | None], timing: Timing, step: timedelta = 10 * S) -> list[tuple[int, str]]:
    """Feed one observation per step; return (step index, change) for every transition."""
    current: Instance | None = None
    seen: list[tuple[int, str]] = []
    ids = iter(f"inc-{n}" for n in range(100))
    for k, obs in enumerate(values):
        obs = obs or Observation.no_data()
        current, changes = advance(current, obs, T0 + k * step, timing, create, lambda: next(ids))
        seen += [(k, c.change.value) for c in changes]
    return seen


def test_for_holds_before_firing_and_a_dip_resets_it() -> None:
    timing = Timing(for_=30 * S)
    assert run([value(0.05)] * 5, timing) == [(0, "pending"), (3, "firing")]
    assert run([value(0.05), value(0.05), value(0.01), value(0.05), value(0.05), value(0.05), value(0.05)], timing) == [
        (0, "pending"),
        (2, "dropped"),
        (3, "pending"),
        (6, "firing"),
    ]


def test_zero_for_fires_on_the_first_breach_and_resolves_on_the_first_clear() -> None:
    assert run([value(0.05), value(0.01)], Timing()) == [(0, "pending"), (0, "firing"), (1, "resolved")]


def test_keep_firing_for_needs_the_condition_false_for_that_long() -> None:
    timing = Timing(keep_firing_for=30 * S)
    steps = [value(0.05), value(0.01), value(0.01), value(0.05), value(0.01), value(0.01), value(0.01), value(0.01)]
    assert run(steps, timing) == [(0, "pending"), (0, "firing"), (7, "resolved")]


def test_flapping_at_the_threshold_pages_once_with_hysteresis() -> None:
    flapping = [value(v, recover=0.02) for v in [0.031, 0.029, 0.031, 0.029, 0.031, 0.029, 0.031, 0.029]]
    assert run(flapping, Timing()) == [(0, "pending"), (0, "firing")]
    recovered = [*flapping, value(0.01, recover=0.02)]
    assert run(recovered, Timing())[-1] == (8, "resolved")


def test_no_data_policies() -> None:
    breach_then_gap = [value(0.05), None, None]
    assert run(breach_then_gap, Timing(no_data="ok")) == [(0, "pending"), (0, "firing"), (1, "resolved")]
    assert run(breach_then_gap, Timing(no_data="keep")) == [(0, "pending"), (0, "firing")]
    assert run([None, None], Timing(no_data="alerting", for_=10 * S)) == [(0, "pending"), (1, "firing")]


def test_resolve_reason_and_timestamps() -> None:
    timing = Timing(for_=10 * S)
    current, _ = advance(None, value(0.05), T0, timing, create)
    assert current is not None and current.active_since == T0
    current, changes = advance(current, value(0.06), T0 + 10 * S, timing, create)
    assert current is not None and current.phase is Phase.FIRING and current.fired_at == T0 + 10 * S
    assert current.incident_id and current.value == 0.06
    incident = current.incident_id
    gone, changes = advance(current, Observation.no_data(ResolveReason.SERIES_GONE), T0 + 20 * S, timing, create)
    assert gone is None
    assert [(c.change, c.reason, c.instance.incident_id) for c in changes] == [
        (Change.RESOLVED, ResolveReason.SERIES_GONE, incident)
    ]


def test_fingerprint_depends_on_rule_and_by_values_only() -> None:
    a = fingerprint("R", {"service.name": "a", "team": "x"}, ("service.name",))
    assert a == fingerprint("R", {"service.name": "a", "team": "y"}, ("service.name",))
    assert a != fingerprint("R", {"service.name": "b"}, ("service.name",))
    assert a != fingerprint("Q", {"service.name": "a"}, ("service.name",))
