"""P2 digests: one signed webhook with the period's incidents, written once per period."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry

from collector.store.db import Database
from tests.integration.notify.conftest import MakeNotifier
from tests.integration.notify.harness import Sink, firing, make_settings, resolved, wait_until, write


async def test_digest_lists_open_and_resolved_p2_incidents_once_per_period(
    sink: Sink, database: Database, notifier_factory: MakeNotifier
) -> None:
    routes = [
        {"match": {"tier": "P0"}, "receivers": ["pager"]},
        {"match": {"tier": "P2"}, "receivers": ["daily"], "digest": "0 9 * * *"},
    ]
    settings = make_settings(sink, {"daily": {"hmac_secret": "k"}, "pager": {}}, routes=routes)
    registry = CollectorRegistry()
    notifier = await notifier_factory(settings, registry=registry)
    still_open = firing(tier="P2", rule="DiskFilling")
    short = firing(tier="P2", rule="QueueBacklog")
    page = firing(tier="P0", rule="CheckoutDown")
    await write(database, still_open, short, page)
    short_end = resolved(short)
    await write(database, short_end)
    notifier.wake()
    await wait_until(lambda: len(sink.at("/pager")) == 1, what="the P0 page")
    assert sink.at("/daily") == []

    end = datetime.now(UTC) + timedelta(seconds=1)
    assert await notifier.digests.send_all(end) == 1
    assert await notifier.digests.send_all(end) == 0  # the same period is never sent twice
    await wait_until(lambda: len(sink.at("/daily")) == 1, what="the digest")
    [got] = sink.at("/daily")
    body = got.json()
    assert body["digest"]["fired"] == 2
    assert body["digest"]["open"] == 1
    assert body["digest"]["resolved"] == 1
    assert body["digest"]["schedule"] == "0 9 * * *"
    assert [(a["incidentId"], a["status"]) for a in body["alerts"]] == [
        (still_open.incident_id, "firing"),
        (short.incident_id, "resolved"),
    ]
    assert body["alerts"][1]["durationSeconds"] == short_end.duration_seconds
    timestamp = got.headers["X-Vigil-Timestamp"]
    mac = hmac.new(b"k", timestamp.encode() + b"." + got.body, hashlib.sha256).hexdigest()
    assert got.headers["X-Vigil-Signature"] == f"sha256={mac}"
    assert registry.get_sample_value("vigil_digest_runs_total", {"outcome": "sent"}) == 1
    [(_, next_run)] = notifier.digests.jobs()
    assert next_run is not None and (next_run.hour, next_run.minute, next_run.second) == (9, 0, 0)


async def test_outbox_gauges_and_attempt_histogram_are_exported(
    sink: Sink, database: Database, notifier_factory: MakeNotifier
) -> None:
    registry = CollectorRegistry()
    notifier = await notifier_factory(make_settings(sink, {"oncall": {}}), registry=registry)
    await write(database, firing())
    notifier.wake()
    await wait_until(lambda: len(sink.at("/oncall")) == 1, what="the delivery")
    await wait_until(
        lambda: registry.get_sample_value("vigil_notifications_total", {"receiver": "oncall", "outcome": "delivered"})
        == 1,
        what="the delivered count",
    )
    assert registry.get_sample_value("vigil_notification_attempt_seconds_count", {"receiver": "oncall"}) == 1
    assert registry.get_sample_value("vigil_outbox_pending") is not None
    assert registry.get_sample_value("vigil_outbox_oldest_age_seconds") is not None
    assert registry.get_sample_value("vigil_notifications_total", {"receiver": "oncall", "outcome": "retry"}) == 0
