"""Silence matchers and request validation, inhibition rules, route selectors (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from collector.notify.inhibit import Inhibitor, InhibitRule
from collector.notify.selector import Selector
from collector.notify.silence import parse_matchers, parse_silence_request
from collector.settings import Inhibit

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def test_selector_matches_values_and_lists_and_prints_like_a_matcher() -> None:
    s = Selector.of({"tier": ["P0", "P1"], "service.name": "checkout"})
    assert s.matches({"tier": "P1", "service.name": "checkout"})
    assert not s.matches({"tier": "P2", "service.name": "checkout"})
    assert not s.matches({"tier": "P0"})
    assert Selector.of({}).matches({})
    assert str(s) == '{service.name="checkout",tier=~"P0|P1"}'


def test_silence_matchers_equal_or_fully_match_a_regex() -> None:
    matchers = parse_matchers({"service.name": "checkout", "alertname": {"regex": "Checkout.*"}})
    labels = {"service.name": "checkout", "alertname": "CheckoutErrorRatio"}
    assert all(m.matches(labels) for m in matchers)
    assert not matchers[1].matches({"alertname": "XCheckout"})
    am_style = parse_matchers([{"name": "team", "value": "pay.*", "isRegex": True}])
    assert am_style[0].matches({"team": "payments"})


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"matchers": {}, "endsAt": "2026-11-22T11:00:00Z", "createdBy": "a"}, "at least one matcher"),
        ({"matchers": {"a": "b"}, "createdBy": "a"}, "endsAt"),
        ({"matchers": {"a": "b"}, "startsAt": "2026-11-22T12:00:00Z", "endsAt": "2026-11-22T11:00:00Z",
          "createdBy": "a"}, "after startsAt"),
        ({"matchers": {"a": {"regex": "("}}, "endsAt": "2026-11-22T11:00:00Z", "createdBy": "a"}, "invalid regex"),
        ({"matchers": {"a": "b"}, "endsAt": "tomorrow", "createdBy": "a"}, "invalid time"),
        ({"matchers": {"a": "b"}, "endsAt": "2026-11-22T11:00:00Z"}, "createdBy"),
        ({"matchers": {"a": "b"}, "endsAt": "2026-11-22T11:00:00Z", "createdBy": "a", "x": 1}, "unknown fields"),
    ],
)
def test_invalid_silences_are_refused_with_a_reason(body: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_silence_request(body, NOW)


def test_a_silence_may_be_given_a_duration() -> None:
    draft = parse_silence_request({"matchers": {"a": "b"}, "duration": "2h", "createdBy": "alice"}, NOW)
    assert draft.starts_at == NOW and draft.ends_at == NOW + timedelta(hours=2)


def test_inhibition_needs_a_firing_source_with_equal_labels_and_never_inhibits_itself() -> None:
    rule = InhibitRule.of(Inhibit(source={"tier": "P0"}, target={"tier": ["P1", "P2"]}, equal=("service.name",)))
    firing = [("p0-checkout", {"tier": "P0", "service.name": "checkout"})]
    inhibitor = Inhibitor([rule], firing)
    assert inhibitor.inhibited("p1", {"tier": "P1", "service.name": "checkout"})
    assert not inhibitor.inhibited("p1b", {"tier": "P1", "service.name": "payments"})
    assert not inhibitor.inhibited("p0-other", {"tier": "P0", "service.name": "checkout"})
    both = InhibitRule.of(Inhibit(source={"team": "x"}, target={"team": "x"}))
    itself = Inhibitor([both], [("a", {"team": "x"})])
    assert not itself.inhibited("a", {"team": "x"})
    assert itself.inhibited("b", {"team": "x"})
