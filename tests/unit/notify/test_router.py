"""Routing: tier defaults, first match wins, lists of values, group_by defaults, digest schedules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from collector.notify.router import DEFAULT_GROUP_BY, Router, parse_schedule
from collector.settings import Settings, check_settings


def _settings(**data: Any) -> Settings:
    receivers = [{"name": n, "url": f"http://127.0.0.1:9/{n}"} for n in ("oncall", "team", "audit")]
    return Settings.model_validate({"receivers": receivers, **data})


def _labels(tier: str, **more: str) -> dict[str, str]:
    return {"alertname": "CheckoutErrorRatio", "tier": tier, "service.name": "checkout", **more}


def test_without_routes_every_receiver_gets_every_tier_with_its_defaults() -> None:
    router = Router.from_settings(_settings())
    p0 = router.targets(_labels("P0"))
    assert [t.receiver for t in p0] == ["oncall", "team", "audit"]
    assert p0[0].timing.group_wait == timedelta(0)
    assert p0[0].timing.group_interval == timedelta(minutes=1)
    assert p0[0].timing.repeat_interval == timedelta(minutes=30)
    p1 = router.targets(_labels("P1"))[0]
    assert (p1.timing.group_wait, p1.timing.group_interval, p1.timing.repeat_interval) == (
        timedelta(seconds=30),
        timedelta(minutes=5),
        timedelta(hours=2),
    )
    assert p1.group_by == DEFAULT_GROUP_BY == ("alertname", "service.name")
    # P2 goes to the daily digest, not in real time.
    assert router.targets(_labels("P2")) == []
    route = router.route_for(_labels("P2"))
    assert route is not None
    schedule = route.digest_schedule()
    assert schedule is not None and schedule.cron == "0 9 * * *"


def test_first_matching_route_wins_and_lists_match_any_value() -> None:
    router = Router.from_settings(
        _settings(
            routes=[
                {"match": {"service.name": ["checkout", "payments"], "tier": "P0"}, "receivers": ["oncall"]},
                {"match": {"tier": ["P0", "P1"]}, "receivers": ["team"], "group_by": ["alertname"]},
            ]
        )
    )
    assert [t.receiver for t in router.targets(_labels("P0"))] == ["oncall"]
    assert [t.receiver for t in router.targets(_labels("P0", **{"service.name": "payments"}))] == ["oncall"]
    other = router.targets(_labels("P0", **{"service.name": "search"}))
    assert [t.receiver for t in other] == ["team"] and other[0].group_by == ("alertname",)
    # A route's missing timers come from the alert's tier.
    assert router.targets(_labels("P1"))[0].timing.group_wait == timedelta(seconds=30)
    # No route matches P2: it goes nowhere.
    assert router.targets(_labels("P2")) == [] and router.route_for(_labels("P2")) is None


def test_a_route_with_timers_sends_p2_in_real_time_and_one_with_digest_never_does() -> None:
    router = Router.from_settings(
        _settings(
            routes=[
                {"match": {"team": "search"}, "receivers": ["team"], "group_wait": "10s"},
                {"match": {"tier": "P0"}, "receivers": ["oncall"], "digest": "0 8 * * 1"},
            ]
        )
    )
    [search] = router.targets(_labels("P2", team="search"))
    assert search.timing.group_wait == timedelta(seconds=10)
    assert router.targets(_labels("P0")) == []
    weekly = router.routes[1].digest_schedule()
    assert weekly is not None and weekly.cron == "0 8 * * 1"
    assert router.routes[0].digest_schedule() is None


def test_bad_digest_schedules_are_config_errors_with_their_position(tmp_path: Path) -> None:
    cfg = tmp_path / "vigil.yaml"
    cfg.write_text(
        "receivers:\n  - {name: team, url: 'http://127.0.0.1:9/x'}\nroutes:\n"
        "  - match: {tier: P2}\n    receivers: [team]\n    digest: every morning\n"
    )
    [problem] = check_settings(cfg, env={})
    assert (problem.line, problem.col, problem.path) == (6, 13, "routes[0].digest")
    assert "invalid digest schedule" in problem.message


def test_digest_schedule_reads_utc_unless_a_time_zone_is_given() -> None:
    utc = parse_schedule("0 9 * * *")
    start = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    assert utc.trigger().get_next_fire_time(None, start) == datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    berlin = parse_schedule("CRON_TZ=Europe/Berlin 0 9 * * *")
    fire = berlin.trigger().get_next_fire_time(None, start)
    assert fire.astimezone(UTC) == datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="unknown time zone"):
        parse_schedule("CRON_TZ=Mars/Olympus 0 9 * * *")


def test_weekdays_count_from_sunday_as_in_cron() -> None:
    start = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)  # a Sunday
    monday = parse_schedule("0 8 * * 1").trigger().get_next_fire_time(None, start)
    assert monday == datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    weekdays = parse_schedule("0 8 * * 1-5").trigger().get_next_fire_time(None, start)
    assert weekdays == datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    sunday = parse_schedule("0 8 * * 7").trigger().get_next_fire_time(None, start)
    assert sunday == datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
