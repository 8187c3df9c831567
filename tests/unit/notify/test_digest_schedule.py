"""Digest scheduling: the period a run covers, and a failing run counted at the job boundary, not raised."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from prometheus_client import CollectorRegistry

from collector.notify.digest import DigestScheduler, previous_fire
from collector.notify.metrics import NotifyMetrics
from collector.notify.plan import build_plan
from collector.notify.router import parse_schedule
from collector.notify.writer import Writer
from collector.settings import Settings
from collector.store.db import Database

TEMPLATES = Path(__file__).resolve().parents[3] / "templates"


def test_previous_fire_is_the_last_scheduled_time_at_or_before() -> None:
    daily = parse_schedule("0 9 * * *").trigger()
    assert previous_fire(daily, datetime(2026, 11, 22, 9, 0, 0, 500, tzinfo=UTC)) == datetime(
        2026, 11, 22, 9, 0, tzinfo=UTC
    )
    assert previous_fire(daily, datetime(2026, 11, 22, 8, 59, tzinfo=UTC)) == datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
    weekly = parse_schedule("0 8 * * 1").trigger()  # Mondays
    assert previous_fire(weekly, datetime(2026, 11, 22, 12, 0, tzinfo=UTC)) == datetime(2026, 11, 16, 8, 0, tzinfo=UTC)


async def test_a_failing_digest_run_is_counted_and_does_not_raise() -> None:
    settings = Settings.model_validate(
        {
            "receivers": [{"name": "daily", "url": "http://127.0.0.1:9/daily"}],
            "routes": [{"match": {"tier": "P2"}, "receivers": ["daily"], "digest": "0 9 * * *"}],
        }
    )
    plan = build_plan(settings, TEMPLATES)
    registry = CollectorRegistry()
    db = Database("sqlite+aiosqlite:///never-opened.db")  # not opened: every query fails
    scheduler = DigestScheduler(
        db=db,
        writer=Writer(db),
        plan=lambda: plan,
        metrics=NotifyMetrics(registry),
        clock=lambda: datetime(2026, 11, 22, 9, 0, tzinfo=UTC),
        external_url="http://127.0.0.1:8080",
        instance_id="a",
        on_enqueued=lambda names: None,
    )
    [route] = plan.router.routes
    schedule = route.digest_schedule()
    assert schedule is not None
    await scheduler.scheduled(route.key, schedule)
    assert registry.get_sample_value("vigil_digest_runs_total", {"outcome": "error"}) == 1
