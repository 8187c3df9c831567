"""The notification stage's Prometheus metrics, on the registry the app gives it."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

OUTCOMES = ("delivered", "retry", "dead")
SUPPRESSION_REASONS = ("silenced", "inhibited")


class NotifyMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.notifications = Counter(
            "vigil_notifications",
            "Delivery attempts by receiver and outcome (delivered, retry, dead).",
            ["receiver", "outcome"],
            registry=registry,
        )
        self.attempt_seconds = Histogram(
            "vigil_notification_attempt_seconds",
            "Duration of one webhook attempt, by receiver.",
            ["receiver"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=registry,
        )
        self.outbox_pending = Gauge(
            "vigil_outbox_pending", "Notifications in the outbox not yet delivered or dead.", registry=registry
        )
        self.outbox_oldest_age = Gauge(
            "vigil_outbox_oldest_age_seconds",
            "Age of the oldest notification waiting in the outbox (0 when empty).",
            registry=registry,
        )
        self.suppressed = Counter(
            "vigil_notifications_suppressed",
            "Alerts left out of notifications because a silence or an inhibit rule muted them.",
            ["reason"],
            registry=registry,
        )
        self.digests = Counter(
            "vigil_digest_runs",
            "Digest job runs by outcome (sent, empty, skipped, error).",
            ["outcome"],
            registry=registry,
        )
        self.errors = Counter(
            "vigil_notify_errors",
            "Errors caught at the boundary of a notification task (dispatch, delivery, monitor).",
            ["task"],
            registry=registry,
        )
        for reason in SUPPRESSION_REASONS:
            self.suppressed.labels(reason)

    def add_receivers(self, names: Iterable[str]) -> None:
        """Make every receiver's series visible at 0 before its first attempt."""
        for name in names:
            for outcome in OUTCOMES:
                self.notifications.labels(name, outcome)
            self.attempt_seconds.labels(name)
