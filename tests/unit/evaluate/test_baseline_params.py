"""Baseline parameters from a rule's spec, the verdict's event form, and restoring detectors from saved state."""

from __future__ import annotations

import enum
import json
from dataclasses import replace
from datetime import timedelta
from types import SimpleNamespace

import pytest

from collector.evaluate.baseline import BaselineParams, Verdict, make_detector

MIDNIGHT = 1_767_225_600.0


class Method(enum.Enum):
    SEASONAL = "seasonal"


def params(method: str = "robust", **changes: object) -> BaselineParams:
    base = BaselineParams(
        method=method,
        history=timedelta(days=7),
        sensitivity=3.0,
        direction="both",
        min_history=timedelta(hours=1),
        min_delta=0.0,
        season=timedelta(days=1) if method == "seasonal" else None,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def trained(p: BaselineParams, n: int = 300) -> dict[str, object]:
    detector = make_detector(p)
    for i in range(n):
        detector.observe(MIDNIGHT + i * 60.0, 100.0 + (i % 7))
    return json.loads(json.dumps(detector.state()))  # type: ignore[no-any-return]


def test_params_read_any_object_with_the_spec_fields() -> None:
    spec = SimpleNamespace(
        method=Method.SEASONAL, season=timedelta(weeks=1), history=timedelta(days=28), sensitivity=2,
        direction="below", min_history=timedelta(hours=6), min_delta=0.5,
    )
    got = BaselineParams.from_spec(spec)
    assert got == BaselineParams("seasonal", timedelta(days=28), 2.0, "below", timedelta(hours=6), 0.5,
                                 timedelta(weeks=1))


@pytest.mark.parametrize(
    "changes",
    [{"method": "holt"}, {"direction": "sideways"}, {"sensitivity": 0.0}, {"history": timedelta(0)},
     {"min_delta": -1.0}, {"method": "seasonal", "season": timedelta(hours=12)}],
)
def test_params_refuse_values_outside_the_rule_language(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        replace(params(), **changes)  # type: ignore[arg-type]


def test_verdict_gives_the_event_baseline_object() -> None:
    verdict = Verdict(expected=10.0, lower=7.0, upper=13.0, score=4.2, anomalous=True, learning=False, samples=99)
    assert verdict.to_dict("ewma") == {
        "method": "ewma", "expected": 10.0, "lower": 7.0, "upper": 13.0, "score": 4.2, "samples": 99,
    }


@pytest.mark.parametrize("method", ["robust", "ewma", "seasonal"])
def test_a_saved_state_restores_what_was_learnt(method: str) -> None:
    restored = make_detector(params(method), trained(params(method)))
    verdict = restored.observe(MIDNIGHT + 300 * 60.0, 103.0)
    assert verdict.samples == 300 and not verdict.learning and verdict.expected is not None


@pytest.mark.parametrize(
    ("saved", "now"),
    [(params("robust"), params("ewma")), (params("seasonal"), params("seasonal", season=timedelta(weeks=1))),
     (params("seasonal"), params("seasonal", history=timedelta(days=2)))],
)
def test_a_state_learnt_for_another_kind_of_baseline_starts_afresh(saved: BaselineParams, now: BaselineParams) -> None:
    verdict = make_detector(now, trained(saved)).observe(MIDNIGHT, 100.0)
    assert verdict.samples == 0 and verdict.learning


def test_a_state_from_another_layout_version_starts_afresh() -> None:
    state = trained(params("ewma"))
    state["v"] = 0
    assert make_detector(params("ewma"), state).observe(MIDNIGHT, 1.0).samples == 0


@pytest.mark.parametrize("method", ["robust", "ewma", "seasonal"])
def test_an_unreadable_state_is_an_error_not_a_silent_reset(method: str) -> None:
    state = trained(params(method))
    broken = {key: value for key, value in state.items() if key not in ("learnt", "first")}
    with pytest.raises(ValueError, match="unreadable"):
        make_detector(params(method), broken)
    with pytest.raises(ValueError, match="unreadable"):
        make_detector(params(method), {**state, "learnt": "many"})
