"""Static thresholds: what fires, how the text reads back, and which recovery thresholds are accepted."""

from __future__ import annotations

import math

import pytest

from collector.rules.threshold import Comparison, Threshold, recover_problem


@pytest.mark.parametrize(
    ("text", "below", "at", "above"),
    [
        ("> 0.03", False, False, True),
        (">= 5", False, True, True),
        ("< 1", True, False, False),
        ("<= 2", True, True, False),
        ("== 0", False, True, False),
        ("!= 0", True, False, True),
    ],
)
def test_breached_follows_the_operator(text: str, below: bool, at: bool, above: bool) -> None:
    t = Threshold.parse(text)
    step = max(abs(t.value), 1.0) / 10
    assert (t.breached(t.value - step), t.breached(t.value), t.breached(t.value + step)) == (below, at, above)


@pytest.mark.parametrize(
    ("text", "op", "value", "shown"),
    [
        ("> 250ms", Comparison.GT, 250.0, "> 250ms"),
        (">3%", Comparison.GT, 0.03, "> 3%"),
        ("  <=   1.5  ", Comparison.LTE, 1.5, "<= 1.5"),
        ("== 1s", Comparison.EQ, 1000.0, "== 1s"),
        ("!=0", Comparison.NE, 0.0, "!= 0"),
    ],
)
def test_units_are_read_and_the_text_is_normalised(text: str, op: Comparison, value: float, shown: str) -> None:
    t = Threshold.parse(text)
    assert (t.op, str(t)) == (op, shown)
    assert t.value == pytest.approx(value)


def test_thresholds_with_the_same_meaning_are_equal() -> None:
    assert Threshold.parse("> 3%") == Threshold.parse(">0.03")
    assert Threshold.parse("> 3%") != Threshold.parse(">= 3%")


def test_nan_never_breaches() -> None:
    assert not Threshold.parse("!= 0").breached(math.nan)


@pytest.mark.parametrize("text", ["0.03", "> fast", "=> 1", "> ", "", "> nan", "> 1 2"])
def test_unreadable_thresholds_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="invalid threshold"):
        Threshold.parse(text)


@pytest.mark.parametrize(
    ("firing", "recover", "accepted"),
    [
        ("> 0.03", "< 0.03", True),
        ("> 0.03", "<= 0.03", True),
        ("> 0.03", "< 0.02", True),
        ("> 0.03", "< 0.05", False),
        (">= 0.03", "< 0.03", True),
        (">= 0.03", "<= 0.03", False),
        ("< 10", "> 10", True),
        ("< 10", ">= 12", True),
        ("<= 10", ">= 10", False),
        ("< 10", "> 5", False),
        ("> 0.03", "> 0.01", False),
        ("== 0", "!= 0", False),
    ],
)
def test_recover_must_lie_on_the_non_firing_side(firing: str, recover: str, accepted: bool) -> None:
    f, r = Threshold.parse(firing), Threshold.parse(recover)
    assert (recover_problem(f, r) is None) is accepted
    if accepted:
        # No value can satisfy both: the alert could not fire and recover at once.
        assert not any(f.breached(v) and r.breached(v) for v in (f.value, r.value, (f.value + r.value) / 2))
