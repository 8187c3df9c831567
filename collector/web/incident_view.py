"""What the incident page shows, worked out from an incident document: timeline, value chart, evidence."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from collector.incidents.values import ValuePoint
from collector.rules.threshold import Threshold
from collector.web.charts import Bar, Chart, value_chart, waterfall
from collector.web.dashboard import parse_iso

# How far before the first breach recorded values are looked for (a pending alert is sampled too).
LEAD = timedelta(minutes=2)


@dataclass(frozen=True, slots=True)
class Moment:
    """One step of the incident's timeline."""

    kind: str  # breach | fired | acked | resolved
    label: str
    at: datetime
    after_breach: float
    detail: str


@dataclass(frozen=True, slots=True)
class TraceEvidence:
    trace_id: str
    error: bool
    duration_ms: float | None
    found: bool
    bars: list[Bar]
    logs: list[dict[str, Any]]
    span_count: int
    services: list[str]


def timeline(incident: Mapping[str, Any]) -> list[Moment]:
    """Breach, fired, acknowledged and resolved, in the order they happened (an ack may follow the resolve)."""
    breach = parse_iso(incident.get("startsAt"))
    if breach is None:
        return []
    steps: list[tuple[str, str, datetime | None, str]] = [
        ("breach", "Condition first breached", breach, f"value crossed {incident.get('threshold') or 'the band'}"),
        ("fired", "Fired", parse_iso(incident.get("firedAt")), "incident opened, notifications sent"),
        ("acked", "Acknowledged", parse_iso(incident.get("ackedAt")), f"by {incident.get('ackedBy') or '?'}"),
        ("resolved", "Resolved", parse_iso(incident.get("endsAt")), f"reason: {incident.get('resolveReason') or '?'}"),
    ]
    moments = [
        Moment(kind, label, at, (at - breach).total_seconds(), detail) for kind, label, at, detail in steps if at
    ]
    return sorted(moments, key=lambda m: (m.at, m.kind != "breach"))


def _threshold(text: Any) -> float | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return Threshold.parse(text).value
    except ValueError:
        return None


def _band_number(band: Any, key: str) -> float | None:
    value = band.get(key) if isinstance(band, Mapping) else None
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def event_points(incident: Mapping[str, Any]) -> list[ValuePoint]:
    """The values the incident's events recorded (at firing and at resolve)."""
    points = []
    for event in incident.get("events", []):
        payload = event.get("payload") or {}
        at = parse_iso(payload.get("at"))
        value = payload.get("value")
        if at is None or not isinstance(value, (int, float)):
            continue
        band = payload.get("baseline")
        expected, lower, upper = (_band_number(band, k) for k in ("expected", "lower", "upper"))
        points.append(ValuePoint(at, float(value), expected, lower, upper))
    return points


def chart(incident: Mapping[str, Any], history: Sequence[ValuePoint], now: datetime) -> Chart:
    """Value and threshold (or band) from the first breach to the resolve, with the timeline's moments marked."""
    breach = parse_iso(incident.get("startsAt")) or now
    end = parse_iso(incident.get("endsAt")) or now
    points = sorted([*history, *event_points(incident)], key=lambda p: p.at)
    first = min([breach, *(p.at for p in points)])
    last = max([end, *(p.at for p in points)])
    margin = max(timedelta(seconds=5), (last - first) * 0.05)
    start, end = first - margin, last + margin
    marks = [(m.at, m.label, m.kind) for m in timeline(incident)]
    return value_chart(points, start, end, _threshold(incident.get("threshold")), marks)


def window(incident: Mapping[str, Any], now: datetime) -> tuple[datetime, datetime]:
    """The period whose recorded values the chart wants."""
    breach = parse_iso(incident.get("startsAt")) or now
    return breach - LEAD, (parse_iso(incident.get("endsAt")) or now) + timedelta(minutes=1)


def trace_evidence(trace_id: str, document: Mapping[str, Any] | None, error: bool = False) -> TraceEvidence:
    """One trace as the page shows it: waterfall bars and the logs that share its trace ID."""
    if document is None:
        return TraceEvidence(trace_id, error, None, False, [], [], 0, [])
    logs = document.get("logs")
    services = document.get("services")
    duration = document.get("durationMs")
    return TraceEvidence(
        trace_id=trace_id,
        error=error,
        duration_ms=float(duration) if isinstance(duration, (int, float)) else None,
        found=True,
        bars=waterfall(document),
        logs=[log for log in logs if isinstance(log, dict)] if isinstance(logs, list) else [],
        span_count=len(document.get("spans") or []),
        services=[str(s) for s in services] if isinstance(services, list) else [],
    )


def evidence(incident: Mapping[str, Any]) -> list[TraceEvidence]:
    out = []
    for item in incident.get("evidence") or []:
        if not isinstance(item, Mapping) or not isinstance(item.get("traceId"), str):
            continue
        document = item.get("trace")
        copy = document if isinstance(document, Mapping) else None
        out.append(trace_evidence(item["traceId"], copy, bool(item.get("error"))))
    return out
