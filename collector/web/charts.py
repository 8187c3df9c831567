"""Geometry of the dashboard's server-side SVG charts and trace waterfalls; the templates draw it. No I/O."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from collector.incidents.mttr import TrendPoint
from collector.incidents.values import ValuePoint

WIDTH, HEIGHT = 720.0, 260.0
LEFT, RIGHT, TOP, BOTTOM = 60.0, 14.0, 24.0, 30.0
_TIME_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800,
               604800)
_DURATION_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 21600, 43200, 86400,
                   172800, 604800)
MAX_TICKS = 6


def human_duration(seconds: float | None) -> str:
    """`42s`, `3m 20s`, `1h 05m`, `2d 4h`; an em dash for no value."""
    if seconds is None:
        return "—"
    s = max(0.0, seconds)
    if s < 10:
        return f"{s:.1f}s".replace(".0s", "s")
    if s < 60:
        return f"{s:.0f}s"
    m, sec = divmod(round(s), 60)
    if m < 60:
        return f"{m}m {sec:02d}s" if sec else f"{m}m"
    h, m = divmod(m, 60)
    if h < 24:
        return f"{h}h {m:02d}m" if m else f"{h}h"
    d, h = divmod(h, 24)
    return f"{d}d {h}h" if h else f"{d}d"


def human_ms(ms: float | None) -> str:
    """A span's duration: `850 µs`, `12.3 ms`, `480 ms`, `2.41 s`."""
    if ms is None:
        return "—"
    if ms < 1:
        return f"{ms * 1000:.0f} µs"
    if ms < 100:
        return f"{ms:.1f} ms"
    if ms < 1000:
        return f"{ms:.0f} ms"
    return f"{ms / 1000:.3g} s"


@dataclass(frozen=True, slots=True)
class Tick:
    pos: float
    label: str


@dataclass(frozen=True, slots=True)
class Dot:
    x: float
    y: float
    title: str


@dataclass(frozen=True, slots=True)
class Series:
    """A line drawn as polylines (`segments`, broken where data is missing) with a dot on every point."""

    name: str
    css: str
    segments: tuple[str, ...]
    dots: tuple[Dot, ...]


@dataclass(frozen=True, slots=True)
class Marker:
    """A vertical line at a moment (fired, acked, resolved)."""

    x: float
    label: str
    css: str


@dataclass
class Chart:
    x_ticks: list[Tick] = field(default_factory=list)
    y_ticks: list[Tick] = field(default_factory=list)
    series: list[Series] = field(default_factory=list)
    bands: list[str] = field(default_factory=list)
    rules: list[Tick] = field(default_factory=list)
    markers: list[Marker] = field(default_factory=list)
    width: float = WIDTH
    height: float = HEIGHT
    left: float = LEFT
    right: float = WIDTH - RIGHT
    top: float = TOP
    bottom: float = HEIGHT - BOTTOM

    @property
    def empty(self) -> bool:
        return not any(s.dots for s in self.series)


class _Frame:
    """Maps times and values onto the plot area."""

    def __init__(self, start: datetime, end: datetime, lo: float, hi: float) -> None:
        self.start, self.end = start, max(end, start + timedelta(seconds=1))
        self.lo, self.hi = lo, hi if hi > lo else lo + 1.0

    def x(self, at: datetime) -> float:
        share = (at - self.start) / (self.end - self.start)
        return round(LEFT + share * (WIDTH - RIGHT - LEFT), 1)

    def y(self, value: float) -> float:
        share = (value - self.lo) / (self.hi - self.lo)
        return round(HEIGHT - BOTTOM - share * (HEIGHT - BOTTOM - TOP), 1)


def _time_ticks(frame: _Frame) -> list[Tick]:
    span = (frame.end - frame.start).total_seconds()
    step = next((s for s in _TIME_STEPS if span / s <= MAX_TICKS), _TIME_STEPS[-1])
    fmt = "%H:%M:%S" if step < 60 else ("%H:%M" if span <= 2 * 86400 else "%m-%d %H:%M" if step < 86400 else "%m-%d")
    first = math.ceil(frame.start.timestamp() / step) * step
    ticks = []
    t = float(first)
    while t <= frame.end.timestamp():
        at = datetime.fromtimestamp(t, UTC)
        ticks.append(Tick(frame.x(at), at.strftime(fmt)))
        t += step
    return ticks


def _nice_number_step(span: float) -> float:
    raw = span / (MAX_TICKS - 1)
    magnitude = 10.0 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * magnitude >= raw)


def _duration_step(span: float) -> float:
    return float(next((s for s in _DURATION_STEPS if span / s <= MAX_TICKS - 1), _DURATION_STEPS[-1]))


def _value_ticks(frame: _Frame, durations: bool) -> list[Tick]:
    span = frame.hi - frame.lo
    step = _duration_step(span) if durations else _nice_number_step(span)
    ticks = []
    v = math.ceil(frame.lo / step) * step
    while v <= frame.hi + step * 1e-9:
        ticks.append(Tick(frame.y(v), human_duration(v) if durations else f"{v:.4g}"))
        v += step
    return ticks


def _series(name: str, css: str, frame: _Frame, points: Sequence[tuple[datetime, float | None]], unit: str) -> Series:
    segments: list[str] = []
    current: list[str] = []
    dots: list[Dot] = []
    for at, value in points:
        if value is None:
            if current:
                segments.append(" ".join(current))
            current = []
            continue
        x, y = frame.x(at), frame.y(value)
        current.append(f"{x},{y}")
        shown = human_duration(value) if unit == "duration" else f"{value:.4g}"
        dots.append(Dot(x, y, f"{name} {at.strftime('%Y-%m-%d %H:%M:%S')} UTC: {shown}"))
    if current:
        segments.append(" ".join(current))
    return Series(name, css, tuple(segments), tuple(dots))


def trend_chart(trend: Mapping[str, Sequence[TrendPoint]], start: datetime, end: datetime, step: timedelta) -> Chart:
    """MTTR (solid) and MTTA (dashed) per tier, one point per bucket with incidents, at the bucket's middle."""
    values = [v for points in trend.values() for p in points for v in (p.mttr, p.mtta) if v is not None]
    top = max(max(values) * 1.05, 1.0) if values else 60.0
    # The axis ends on a tick (rounded up), so that the highest point sits under a labelled line.
    tick = _duration_step(top)
    frame = _Frame(start, end, 0.0, math.ceil(top / tick) * tick)
    chart = Chart(x_ticks=_time_ticks(frame), y_ticks=_value_ticks(frame, durations=True))
    for tier, points in trend.items():
        mid = step / 2
        for measure, css in (("MTTR", "mttr"), ("MTTA", "mtta")):
            line = [(p.start + mid, p.mttr if measure == "MTTR" else p.mtta) for p in points]
            chart.series.append(_series(f"{tier} {measure}", f"{css} tier-{tier}", frame, line, "duration"))
    return chart


def value_chart(
    points: Sequence[ValuePoint],
    start: datetime,
    end: datetime,
    threshold: float | None = None,
    markers: Sequence[tuple[datetime, str, str]] = (),
) -> Chart:
    """The alert's value over [start, end] with its threshold (a horizontal rule) or baseline band (an area)."""
    numbers = [v for p in points for v in (p.value, p.lower, p.upper) if v is not None and math.isfinite(v)]
    if threshold is not None:
        numbers.append(threshold)
    lo, hi = (min(numbers), max(numbers)) if numbers else (0.0, 1.0)
    pad = (hi - lo) * 0.1 or abs(hi) * 0.1 or 1.0
    lo = 0.0 if lo >= 0 and lo - pad < 0 else lo - pad
    frame = _Frame(start, end, lo, hi + pad)
    chart = Chart(x_ticks=_time_ticks(frame), y_ticks=_value_ticks(frame, durations=False))
    banded = [p for p in points if p.lower is not None and p.upper is not None]
    if banded:
        upper = [f"{frame.x(p.at)},{frame.y(p.upper or 0.0)}" for p in banded]
        lower = [f"{frame.x(p.at)},{frame.y(p.lower or 0.0)}" for p in reversed(banded)]
        chart.bands.append(" ".join(upper + lower))
        expected = [(p.at, p.expected) for p in points]
        if any(v is not None for _, v in expected):
            chart.series.append(_series("expected", "expected", frame, expected, "number"))
    if threshold is not None:
        chart.rules.append(Tick(frame.y(threshold), f"threshold {threshold:.4g}"))
    chart.series.append(_series("value", "value", frame, [(p.at, p.value) for p in points], "number"))
    for at, label, css in markers:
        if frame.start <= at <= frame.end:
            chart.markers.append(Marker(frame.x(at), label, css))
    return chart


@dataclass(frozen=True, slots=True)
class Bar:
    """One span of a waterfall: where its bar starts and how wide it is, in percent of the trace."""

    span_id: str
    name: str
    service: str
    kind: str
    depth: int
    left: float
    width: float
    duration_ms: float
    offset_ms: float
    error: bool
    status_message: str


def waterfall(trace: Mapping[str, object]) -> list[Bar]:
    """The spans of a trace document (`TraceView.to_dict()`, already in tree order) as bars."""
    total = trace.get("durationMs")
    total_ms = float(total) if isinstance(total, (int, float)) and total > 0 else 1.0
    spans = trace.get("spans")
    bars = []
    for span in spans if isinstance(spans, list) else []:
        offset, duration = float(span.get("offsetMs") or 0.0), float(span.get("durationMs") or 0.0)
        left = min(100.0, max(0.0, offset / total_ms * 100))
        status = span.get("status") or {}
        bars.append(
            Bar(
                span_id=str(span.get("spanId", "")),
                name=str(span.get("name", "")),
                service=str(span.get("service", "")),
                kind=str(span.get("kind", "")),
                depth=int(span.get("depth") or 0),
                left=round(left, 2),
                # A zero-length span still gets a sliver, so that it can be seen and hovered.
                width=round(max(0.4, min(100.0 - left, duration / total_ms * 100)), 2),
                duration_ms=duration,
                offset_ms=offset,
                error=status.get("code") == "error",
                status_message=str(status.get("message") or ""),
            )
        )
    return bars
