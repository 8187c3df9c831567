"""Reading backtest inputs: a `timestamp,value` CSV, or OTLP/JSON lines as the Collector's file exporter writes."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson

from collector.errors import DecodeError, VigilError
from collector.ingest.decode import WireFormat, decode_request, validate
from collector.model import Batch, Signal


class InputError(VigilError):
    """A backtest input file cannot be read; the message names the file and line."""


@dataclass(frozen=True, slots=True)
class Point:
    at: datetime
    value: float


def parse_time(text: str) -> datetime:
    """ISO-8601 (UTC when no zone is given) or unix seconds."""
    s = text.strip()
    try:
        return datetime.fromtimestamp(float(s), UTC)
    except ValueError:
        parsed = datetime.fromisoformat(s.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def read_csv(path: Path) -> list[Point]:
    """Rows of `timestamp,value` after a header, sorted by time; empty values are skipped."""
    points: list[Point] = []
    with path.open(newline="", encoding="utf-8") as f:
        rows = csv.reader(f)
        header = next(rows, None)
        if header is None or [h.strip().lower() for h in header[:2]] != ["timestamp", "value"]:
            raise InputError(f"{path}:1: expected a header row 'timestamp,value'")
        for n, row in enumerate(rows, start=2):
            if not row or not "".join(row).strip():
                continue
            if len(row) < 2:
                raise InputError(f"{path}:{n}: expected timestamp,value")
            try:
                at = parse_time(row[0])
            except ValueError:
                raise InputError(f"{path}:{n}: cannot read timestamp {row[0]!r} (ISO-8601 or unix seconds)") from None
            if not row[1].strip():
                continue
            try:
                value = float(row[1])
            except ValueError:
                raise InputError(f"{path}:{n}: cannot read value {row[1]!r}") from None
            points.append(Point(at, value))
    points.sort(key=lambda p: p.at)
    return points


_SIGNALS = {
    "resourceSpans": Signal.SPANS,
    "resourceMetrics": Signal.METRICS,
    "resourceLogs": Signal.LOGS,
    "resource_spans": Signal.SPANS,
    "resource_metrics": Signal.METRICS,
    "resource_logs": Signal.LOGS,
}


def read_otlp(path: Path) -> Iterator[Batch]:
    """One export request per line (OTLP/JSON); each batch is stamped with its newest record's time."""
    with path.open("rb") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                keys = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise InputError(f"{path}:{n}: not JSON: {exc}") from None
            signal = next((_SIGNALS[k] for k in keys if k in _SIGNALS), None) if isinstance(keys, dict) else None
            if signal is None:
                raise InputError(f"{path}:{n}: expected resourceSpans, resourceMetrics or resourceLogs")
            try:
                decoded = validate(signal, decode_request(signal, line, WireFormat.JSON))
            except DecodeError as exc:
                raise InputError(f"{path}:{n}: {exc.message}") from None
            yield decoded.batch(signal, _newest(decoded.request))


def _newest(request: object) -> int:
    newest = 0
    for rs in getattr(request, "resource_spans", ()):
        for ss in rs.scope_spans:
            for span in ss.spans:
                newest = max(newest, span.end_time_unix_nano)
    for rl in getattr(request, "resource_logs", ()):
        for sl in rl.scope_logs:
            for rec in sl.log_records:
                newest = max(newest, rec.time_unix_nano or rec.observed_time_unix_nano)
    for rm in getattr(request, "resource_metrics", ()):
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                for kind in ("gauge", "sum", "histogram", "exponential_histogram", "summary"):
                    if m.HasField(kind):
                        for p in getattr(m, kind).data_points:
                            newest = max(newest, p.time_unix_nano)
    return newest
