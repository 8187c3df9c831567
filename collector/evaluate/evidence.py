"""Evidence for an incident: the window's exemplar traces, each with its spans and correlated logs."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from collector.model import ExemplarRef

MAX_TRACES = 5

# Looks up a trace by its 16-byte id; returns the API document (spans in tree order + logs) or None.
TraceLookup = Callable[[bytes], dict[str, Any] | None]


def collect(exemplars: Iterable[Any], lookup: TraceLookup, limit: int = MAX_TRACES) -> list[dict[str, Any]]:
    """Up to `limit` distinct traces, in the store's order (errors first, then the slowest)."""
    out: list[dict[str, Any]] = []
    seen: set[bytes] = set()
    for ex in exemplars:
        trace_id: bytes = ex.trace_id
        if not trace_id or trace_id in seen:
            continue
        seen.add(trace_id)
        out.append(
            {
                "traceId": trace_id.hex(),
                "spanId": ex.span_id.hex() if ex.span_id else "",
                "error": bool(getattr(ex, "error", False)),
                "durationMs": getattr(ex, "duration_ms", None),
                "trace": lookup(trace_id),
            }
        )
        if len(out) >= limit:
            break
    return out


def refs(evidence: Iterable[dict[str, Any]]) -> tuple[ExemplarRef, ...]:
    return tuple(ExemplarRef(e["traceId"], e["spanId"]) for e in evidence)
