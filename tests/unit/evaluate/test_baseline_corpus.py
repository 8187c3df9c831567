"""On the synthetic corpus each method finds the injected anomalies and stays quiet elsewhere."""

from __future__ import annotations

from functools import cache

import pytest

from collector.evaluate.band import Verdict
from collector.evaluate.baseline import make_detector
from collector.evaluate.corpus import Case, Series, catalogue
from collector.evaluate.trial import Score, replay, score


@cache
def corpus() -> tuple[Case, ...]:
    # Half the sampling rate of the benchmark's corpus keeps this quick; same days, shapes and anomalies.
    return tuple(catalogue(scale=0.5))


@cache
def verdicts(index: int, method: str) -> tuple[Verdict, ...]:
    case = corpus()[index]
    return tuple(replay(make_detector(case.params(method)), case.series))


@cache
def total(method: str) -> Score:
    results = [
        score(case.series, verdicts(i, method)) for i, case in enumerate(corpus()) if method in case.methods
    ]
    combined = results[0]
    for result in results[1:]:
        combined = combined + result
    return combined


# Margins below what the corpus gives (see bench/baseline.py), so a change of noise draw does not flip them; a change
# that loses a tenth of the anomalies or doubles the false alerts does.
@pytest.mark.parametrize(
    ("method", "precision", "recall"),
    [("robust", 0.8, 0.85), ("ewma", 0.8, 0.75), ("seasonal", 0.9, 0.9)],
)
def test_anomalies_are_found_and_false_alerts_are_rare(method: str, precision: float, recall: float) -> None:
    result = total(method)
    assert result.anomalies >= 20
    assert result.recall >= recall
    assert result.precision >= precision


@pytest.mark.parametrize("method", ["robust", "ewma", "seasonal"])
def test_detection_is_prompt(method: str) -> None:
    # Spikes, dips and outages are caught at once; drifts and small shifts take longer: on average under 30 min.
    assert total(method).mean_delay < 1800.0


def test_every_kind_of_anomaly_is_represented_and_found_by_some_method() -> None:
    kinds = {a.kind for case in corpus() for a in case.series.anomalies}
    assert kinds == {"spike", "dip", "shift", "drift", "outage"}
    found: set[str] = set()
    for i, case in enumerate(corpus()):
        for method in case.methods:
            flagged = [t for t, v in zip(case.series.times, verdicts(i, method), strict=True) if v.anomalous]
            found |= {a.kind for a in case.series.anomalies if any(a.start <= t <= a.end for t in flagged)}
    assert found == kinds


def _verdict(anomalous: bool) -> Verdict:
    return Verdict(1.0, 0.0, 2.0, 5.0 if anomalous else 0.0, anomalous, False, 100)


def test_scoring_counts_episodes_and_found_windows() -> None:
    case = next(c for c in corpus() if c.series.name == "flat")
    series: Series = case.series
    first, second = series.anomalies[0], series.anomalies[1]
    flags = [first.start <= t <= first.end or abs(t - (second.end + 86_400.0)) < 1.0 for t in series.times]
    result = score(series, [_verdict(f) for f in flags])
    assert result.anomalies == len(series.anomalies)
    assert result.found == 1
    assert result.episodes == 2 and result.false_episodes == 1
    assert result.precision == 0.5 and result.recall == 1 / len(series.anomalies)
