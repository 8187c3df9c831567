"""A firing and its resolved reach the webhook in order, with the documented body and headers."""

from __future__ import annotations

from collector.store.db import Database
from tests.integration.notify.conftest import MakeNotifier
from tests.integration.notify.harness import Sink, firing, make_settings, resolved, wait_until, write


async def test_firing_then_resolved_arrive_in_order_with_body_and_headers(
    sink: Sink, database: Database, notifier_factory: MakeNotifier
) -> None:
    settings = make_settings(sink, {"oncall": {"headers": {"Authorization": "Bearer t0ken"}}})
    notifier = await notifier_factory(settings)
    fire = firing(labels={"http.route": "/pay"})
    await write(database, fire)
    notifier.wake()
    await wait_until(lambda: len(sink.at("/oncall")) == 1, what="the firing")
    done = resolved(fire)
    await write(database, done)
    notifier.wake()
    await wait_until(lambda: len(sink.at("/oncall")) == 2, what="the resolved")

    first, second = sink.at("/oncall")
    body = first.json()
    assert first.headers["Content-Type"] == "application/json"
    assert first.headers["Authorization"] == "Bearer t0ken"
    assert first.key == fire.id
    assert first.headers["X-Vigil-Timestamp"].isdigit()
    assert "X-Vigil-Signature" not in first.headers
    assert body["version"] == "4"
    assert body["status"] == "firing"
    assert body["receiver"] == "oncall"
    assert body["truncatedAlerts"] == 0
    assert body["externalURL"] == "http://vigil.test:8080"
    assert body["groupLabels"] == {"alertname": "CheckoutErrorRatio", "service.name": "checkout"}
    [alert] = body["alerts"]
    assert alert["labels"] == {
        "alertname": "CheckoutErrorRatio",
        "tier": "P0",
        "service.name": "checkout",
        "http.route": "/pay",
    }
    assert alert["endsAt"] == "0001-01-01T00:00:00Z"
    assert alert["generatorURL"] == f"http://vigil.test:8080/incidents/{fire.incident_id}"
    assert alert["incidentId"] == fire.incident_id
    assert alert["exemplars"] == [
        {
            "traceId": "4bf92f3577b34da6a3ce929d0e0e4736",
            "spanId": "00f067aa0ba902b7",
            "url": "http://vigil.test:8080/api/traces/4bf92f3577b34da6a3ce929d0e0e4736",
        }
    ]
    assert list(alert) == [
        "status", "labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint", "incidentId",
        "tier", "value", "threshold", "baseline", "durationSeconds", "resolveReason", "exemplars",
    ]  # fmt: skip

    closing = second.json()
    assert second.key == done.id
    assert closing["status"] == "resolved"
    [alert] = closing["alerts"]
    assert alert["status"] == "resolved"
    assert alert["resolveReason"] == "condition_cleared"
    assert alert["durationSeconds"] == done.duration_seconds
    assert alert["endsAt"] != "0001-01-01T00:00:00Z"
