"""MTTA and MTTR arithmetic on incidents with known timestamps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from collector.incidents.mttr import IncidentTimes, Stats, percentile, summarize, trend

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def incident(
    tier: str = "P0",
    *,
    fired: float,
    breach: float | None = None,
    acked: float | None = None,
    ended: float | None = None,
    service: str | None = "checkout",
    rule: str = "CheckoutErrors",
    silenced: bool = False,
    reason: str | None = None,
) -> IncidentTimes:
    starts = at(breach if breach is not None else fired - 30)
    ends = at(ended) if ended is not None else None
    return IncidentTimes(
        tier=tier,
        service=service,
        rule=rule,
        starts_at=starts,
        fired_at=at(fired),
        acked_at=at(acked) if acked is not None else None,
        ends_at=ends,
        duration_seconds=(ends - starts).total_seconds() if ends else None,
        silenced=silenced,
        resolve_reason=reason or ("condition_cleared" if ends else None),
    )


# P0: fired at 0, 100, 200, 300 (breaches 30 s earlier each).
P0 = [
    incident(fired=0, acked=60, ended=570),  # ack before resolve: MTTA 60, MTTR 600
    incident(fired=100, acked=1100, ended=370),  # ack after resolve: MTTA 1000, MTTR 300
    incident(fired=200, ended=1170),  # resolved, never acked: MTTR 1000
    incident(fired=300, acked=330),  # still open, acked: MTTA 30
    incident(fired=400),  # still open, not acked
]


def test_percentiles_interpolate_between_ranks() -> None:
    assert percentile([5.0], 0.9) == 5.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert percentile([10.0, 20.0, 30.0, 40.0, 50.0], 0.9) == pytest.approx(46.0)
    assert percentile([3.0, 1.0, 2.0], 0.0) == 1.0 and percentile([3.0, 1.0, 2.0], 1.0) == 3.0
    with pytest.raises(ValueError):
        percentile([], 0.5)


def test_mtta_counts_acks_before_and_after_the_resolve_and_mttr_only_resolved_incidents() -> None:
    p0 = summarize(P0, "tier")[0]
    assert (p0.key, p0.count, p0.open, p0.acked, p0.silenced, p0.manual) == ("P0", 5, 2, 3, 0, 0)
    # MTTA over 60, 1000, 30; MTTR over 600, 300, 1000 (first breach → resolve, never fired → resolve).
    assert p0.mtta == Stats(pytest.approx(1090 / 3), 60.0, pytest.approx(60 + 0.8 * 940))
    assert p0.mttr == Stats(pytest.approx(1900 / 3), 600.0, pytest.approx(600 + 0.8 * 400))


def test_every_tier_is_listed_and_a_tier_without_incidents_has_no_figures() -> None:
    groups = summarize([*P0, incident("P2", fired=0, ended=90)], "tier")
    assert [g.key for g in groups] == ["P0", "P1", "P2"]
    p1, p2 = groups[1], groups[2]
    assert (p1.count, p1.open, p1.acked) == (0, 0, 0)
    assert p1.mtta == p1.mttr == Stats(None, None, None)
    assert (p2.count, p2.mttr.mean, p2.mtta.mean) == (1, 120.0, None)


def test_silenced_and_manual_incidents_are_flagged_and_can_be_left_out() -> None:
    found = [
        incident(fired=0, acked=10, ended=270),  # MTTR 300, MTTA 10
        incident(fired=0, acked=500, ended=3570, silenced=True),  # MTTR 3600
        incident(fired=0, ended=60, reason="manual"),  # MTTR 90
    ]
    everything = summarize(found, "tier")[0]
    assert (everything.count, everything.silenced, everything.manual, everything.excluded) == (3, 1, 1, 0)
    assert everything.mttr.mean == pytest.approx((300 + 3600 + 90) / 3)
    assert everything.mtta.mean == pytest.approx(255)

    quiet = summarize(found, "tier", exclude=["silenced"])[0]
    assert (quiet.count, quiet.silenced, quiet.manual, quiet.excluded) == (2, 0, 1, 1)
    assert quiet.mttr.mean == pytest.approx(195) and quiet.mtta.mean == 10

    plain = summarize(found, "tier", exclude=["silenced", "manual"])[0]
    assert (plain.count, plain.excluded, plain.mttr.mean, plain.mttr.p90) == (1, 2, 300.0, 300.0)
    with pytest.raises(ValueError, match="cannot exclude"):
        summarize(found, "tier", exclude=["flaky"])


def test_grouping_by_service_and_rule() -> None:
    found = [
        incident(fired=0, ended=270, service="checkout", rule="A"),
        incident(fired=0, ended=570, service="payments", rule="A"),
        incident(fired=0, ended=870, service=None, rule="B"),
    ]
    by_service = summarize(found, "service")
    assert [(g.key, g.count, g.mttr.mean) for g in by_service] == [
        ("checkout", 1, 300.0), ("payments", 1, 600.0), (None, 1, 900.0)
    ]
    by_rule = summarize(found, "rule")
    assert [(g.key, g.count, g.mttr.mean) for g in by_rule] == [("A", 2, 450.0), ("B", 1, 900.0)]
    assert by_rule[0].to_dict("rule")["rule"] == "A"
    assert by_rule[0].to_dict("rule")["mttrSeconds"] == {"mean": 450.0, "p50": 450.0, "p90": 570.0}


def test_trend_buckets_by_fired_time_per_tier() -> None:
    found = [
        incident(fired=10, acked=70, ended=280),  # bucket 0: MTTA 60, MTTR 300
        incident(fired=50, ended=620),  # bucket 0: MTTR 600
        incident(fired=130, acked=160),  # bucket 2: MTTA 30, open
        incident("P1", fired=70, ended=100),  # P1 bucket 1: MTTR 60
        incident(fired=-5, ended=100),  # before the range
        incident(fired=180, ended=300),  # at the end: outside [start, end)
    ]
    points = trend(found, at(0), at(180), timedelta(minutes=1))
    p0 = points["P0"]
    assert [p.start for p in p0] == [at(0), at(60), at(120)]
    assert [(p.count, p.mtta, p.mttr) for p in p0] == [(2, 60.0, 450.0), (0, None, None), (1, 30.0, None)]
    assert [(p.count, p.mttr) for p in points["P1"]] == [(0, None), (1, 60.0), (0, None)]
    assert all(p.count == 0 for p in points["P2"])


def test_trend_can_leave_out_silenced_incidents() -> None:
    found = [incident(fired=10, ended=280), incident(fired=20, ended=3590, silenced=True)]
    kept = trend(found, at(0), at(60), timedelta(minutes=1), exclude=["silenced"])["P0"][0]
    assert (kept.count, kept.mttr) == (1, 300.0)
    both = trend(found, at(0), at(60), timedelta(minutes=1))["P0"][0]
    assert (both.count, both.mttr) == (2, pytest.approx(1950.0))
