"""For web tests: incidents written through the evaluator's own ledger functions, and a trace from the real SDK."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode
from sqlalchemy import update

from collector.evaluate import ledger
from collector.model import AlertEvent, EventKind, ResolveReason
from collector.store.db import Database
from collector.store.tables import incidents

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@dataclass
class Seeded:
    id: str
    fired: AlertEvent


def _event(
    kind: EventKind,
    incident_id: str,
    rule: str,
    tier: str,
    labels: dict[str, str],
    starts: datetime,
    fired: datetime,
    now: datetime,
    value: float,
    reason: ResolveReason | None = None,
) -> AlertEvent:
    return AlertEvent(
        id=str(uuid.uuid4()),
        kind=kind,
        incident_id=incident_id,
        fingerprint=f"fp-{incident_id}",
        rule=rule,
        group="shop",
        tier=tier,
        labels={**labels, "alertname": rule, "tier": tier},
        annotations={"summary": f"{rule} value {value}"},
        value=value,
        threshold="> 0.2",
        baseline=None,
        starts_at=starts,
        fired_at=fired,
        at=now,
        ends_at=now if kind is EventKind.RESOLVED else None,
        duration_seconds=(now - starts).total_seconds() if kind is EventKind.RESOLVED else None,
        resolve_reason=reason,
    )


async def seed(
    db: Database,
    *,
    fired: float,
    breach: float | None = None,
    ended: float | None = None,
    tier: str = "P0",
    rule: str = "CheckoutErrors",
    service: str = "checkout",
    labels: dict[str, str] | None = None,
    reason: ResolveReason = ResolveReason.CONDITION_CLEARED,
    silenced: bool = False,
    evidence: list[dict[str, Any]] | None = None,
    value: float = 0.5,
) -> Seeded:
    """One incident that fired at T0 + `fired` seconds (first breach 30 s earlier), resolved at `ended` if given."""
    incident_id = str(uuid.uuid4())
    starts, fired_at = at(breach if breach is not None else fired - 30), at(fired)
    all_labels = {"service.name": service, **(labels or {})}
    firing = _event(EventKind.FIRING, incident_id, rule, tier, all_labels, starts, fired_at, fired_at, value)
    async with db.engine.begin() as conn:
        await ledger.open_incident(conn, ledger.Opening(firing, service, evidence or []))
        if ended is not None:
            resolved = _event(
                EventKind.RESOLVED, incident_id, rule, tier, all_labels, starts, fired_at, at(ended), 0.01, reason
            )
            await ledger.close_incident(conn, resolved)
        if silenced:
            # The flag says a silence muted its notifications; the test sets it on the row directly.
            await conn.execute(update(incidents).where(incidents.c.id == incident_id).values(silenced=True))
    return Seeded(incident_id, firing)


@dataclass
class Emitted:
    spans: tuple[ReadableSpan, ...]
    logs: tuple[ReadableLogRecord, ...]


def emit() -> Emitted:
    """A checkout request (a failing child span, logs inside the spans) and a health check, by the real SDK."""
    resource = Resource.create({"service.name": "checkout"})
    span_out = InMemorySpanExporter()
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(span_out))
    tracer = tracer_provider.get_tracer("shop")
    log_out = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(log_out))
    logger = logger_provider.get_logger("shop")
    with tracer.start_as_current_span("POST /checkout", kind=SpanKind.SERVER):
        logger.emit(body="order received", severity_number=SeverityNumber.INFO)
        with tracer.start_as_current_span("charge card", kind=SpanKind.CLIENT) as charge:
            charge.set_status(Status(StatusCode.ERROR, "card declined"))
            logger.emit(body="card declined", severity_number=SeverityNumber.ERROR)
        with tracer.start_as_current_span("reserve stock"):
            pass
    with tracer.start_as_current_span("GET /health"):
        logger.emit(body="healthy", severity_number=SeverityNumber.DEBUG)
    emitted = Emitted(span_out.get_finished_spans(), log_out.get_finished_logs())
    tracer_provider.shutdown()
    logger_provider.shutdown()
    return emitted
