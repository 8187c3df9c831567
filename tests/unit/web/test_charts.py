"""Chart and waterfall geometry, and the value history the incident chart draws from."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from collector.incidents.values import ValueHistory, ValuePoint
from collector.web.charts import HEIGHT, LEFT, RIGHT, WIDTH, human_duration, human_ms, value_chart, waterfall

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_durations_read_like_a_person_writes_them() -> None:
    assert [human_duration(s) for s in (None, 0.5, 9.96, 42, 200, 3600, 3900, 90000)] == [
        "—", "0.5s", "10s", "42s", "3m 20s", "1h", "1h 05m", "1d 1h"
    ]
    assert [human_ms(ms) for ms in (0.179, 12.34, 480, 2412)] == ["179 µs", "12.3 ms", "480 ms", "2.41 s"]


def test_a_baseline_band_is_an_area_around_the_expected_line() -> None:
    points = [ValuePoint(at(s), 10.0 + s, 8.0, 6.0, 12.0) for s in range(0, 60, 10)]
    chart = value_chart(points, at(0), at(60), markers=[(at(30), "Fired", "fired"), (at(600), "later", "resolved")])
    (band,) = chart.bands
    corners = [tuple(map(float, p.split(","))) for p in band.split()]
    assert len(corners) == 12, "upper edge forwards, lower edge back"
    assert corners[0][0] == LEFT and corners[-1][0] == LEFT
    assert [s.name for s in chart.series] == ["expected", "value"]
    value = chart.series[1]
    assert len(value.dots) == 6 and len(value.segments) == 1
    ys = [d.y for d in value.dots]
    assert ys == sorted(ys, reverse=True), "a rising value climbs the chart"
    assert all(0 < d.y < HEIGHT for d in value.dots) and all(LEFT <= d.x <= WIDTH - RIGHT for d in value.dots)
    assert [m.label for m in chart.markers] == ["Fired"], "a moment outside the chart is not drawn"
    assert not chart.rules


def test_missing_values_break_the_line() -> None:
    points = [ValuePoint(at(0), 1.0), ValuePoint(at(10), None), ValuePoint(at(20), 2.0), ValuePoint(at(30), 3.0)]
    chart = value_chart(points, at(0), at(30), threshold=2.5)
    (value,) = chart.series
    assert len(value.segments) == 2 and len(value.dots) == 3
    assert chart.rules[0].label == "threshold 2.5"


def span(name: str, offset: float, duration: float, depth: int, error: bool = False) -> dict[str, Any]:
    return {
        "spanId": name, "name": name, "service": "shop", "kind": "server", "depth": depth,
        "offsetMs": offset, "durationMs": duration, "status": {"code": "error" if error else "unset", "message": ""},
    }


def test_waterfall_bars_sit_where_their_spans_ran() -> None:
    trace = {
        "durationMs": 200.0,
        "spans": [span("root", 0, 200, 0), span("db", 50, 100, 1, error=True), span("tick", 199, 0, 2)],
    }
    bars = waterfall(trace)
    assert [(b.name, b.left, b.width, b.depth, b.error) for b in bars] == [
        ("root", 0.0, 100.0, 0, False),
        ("db", 25.0, 50.0, 1, True),
        ("tick", 99.5, 0.4, 2, False),
    ]


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def alert(fp: str, state: str, value: float, band: dict[str, float] | None = None) -> dict[str, Any]:
    return {"fingerprint": fp, "state": state, "value": value, "baseline": band}


def test_the_value_history_keeps_live_alerts_whole_and_forgets_old_ones() -> None:
    clock = Clock()
    history = ValueHistory(max_age=timedelta(minutes=10), max_points=8, max_series=2, clock=clock)
    for n in range(20):
        clock.now = at(n * 10)
        history.record([
            alert("a", "firing", float(n), {"expected": 1.0, "lower": 0.0, "upper": 2.0}),
            alert("b", "inactive", 1.0),
            alert("c", "pending", 5.0),
            alert("d", "firing", 7.0),  # a third series: over max_series
        ])
    kept = history.series("a", at(0), at(1000))
    assert kept[0].at == at(0), "the start of the firing period is kept"
    assert len(kept) <= 8 and kept[-1].at >= at(150)
    assert [p.at for p in kept] == sorted(p.at for p in kept)
    assert (kept[0].lower, kept[0].upper, kept[0].expected) == (0.0, 2.0, 1.0)
    assert history.series("b", at(0), at(1000)) == []
    assert len(history.series("c", at(0), at(1000))) == 8
    assert history.series("d", at(0), at(1000)) == []
    assert [p.value for p in history.series("a", at(185), at(190))] == [19.0]
    clock.now = at(2000)
    history.record([])
    assert history.series("a", at(0), at(3000)) == []
