"""Rules as the evaluator sees them: defaults, selector, labels, annotations and the definition hash."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from collector.model import Signal
from collector.rules.loader import load_rules
from collector.rules.ruleset import RuleSet

OK = Path(__file__).resolve().parents[2] / "data" / "rules_ok"
DEFAULT = timedelta(seconds=5)


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    shutil.copytree(OK, tmp_path / "rules")
    return tmp_path / "rules"


def edit(file: Path, old: str, new: str) -> None:
    text = file.read_text(encoding="utf-8")
    assert old in text
    file.write_text(text.replace(old, new), encoding="utf-8")


def loaded(path: Path) -> RuleSet:
    return load_rules([path], DEFAULT)


def test_a_rule_reads_as_written() -> None:
    rule = loaded(OK).get("CheckoutErrorRatio")
    assert rule is not None
    assert (rule.tier, rule.measure, rule.by, rule.window) == ("P0", "error_ratio", ("service.name", "http.route"),
                                                               timedelta(minutes=1))
    assert (rule.for_, rule.keep_firing_for, rule.min_samples, rule.no_data) == (
        timedelta(seconds=30), timedelta(minutes=1), 20, "ok")
    assert rule.condition.kind == "threshold"
    assert str(rule.condition.threshold) == "> 3%" and str(rule.recover) == "< 2%"
    assert rule.condition.threshold is not None and rule.condition.threshold.breached(0.031)


def test_omitted_settings_take_their_defaults() -> None:
    rule = loaded(OK).get("CheckoutLatency")
    assert rule is not None
    assert (rule.for_, rule.keep_firing_for, rule.min_samples, rule.no_data, rule.recover) == (
        timedelta(0), timedelta(0), 0, "ok", None)
    baseline = rule.condition.baseline
    assert baseline is not None
    assert (baseline.method, baseline.history, baseline.sensitivity, baseline.direction, baseline.min_history,
            baseline.min_delta, baseline.season) == ("robust", timedelta(days=7), 3.0, "above", timedelta(hours=1),
                                                     20.0, None)


def test_an_absent_rule_needs_no_measure() -> None:
    rule = loaded(OK).get("QueueSilent")
    assert rule is not None
    assert rule.condition.kind == "absent"
    assert rule.measure == "last"
    assert rule.condition.describe() is None


def test_the_selector_carries_signal_matchers_keys_and_metric() -> None:
    ruleset = loaded(OK)
    selectors = ruleset.selectors()
    assert set(selectors) == {r.name for r in ruleset.rules()}
    spans = selectors["CheckoutErrorRatio"]
    assert spans.signal is Signal.SPANS and spans.metric is None
    assert spans.keys() == {"service.name", "span.kind", "http.response.status_code", "http.route"}
    metrics = selectors["QueueSilent"]
    assert (metrics.signal, metrics.metric) == (Signal.METRICS, "queue.depth")
    [queue] = metrics.where
    assert queue.matches("refunds") and not queue.matches("orders-dlq")


def test_alert_labels_put_alertname_and_tier_over_everything() -> None:
    rule = loaded(OK).get("CheckoutErrorRatio")
    assert rule is not None
    labels = rule.alert_labels({"service.name": "checkout", "http.route": "/pay", "host.name": "a"})
    assert labels == {"service.name": "checkout", "http.route": "/pay", "team": "payments",
                      "alertname": "CheckoutErrorRatio", "tier": "P0"}


def test_annotations_render_for_a_real_alert() -> None:
    ruleset = loaded(OK)
    ratio, latency = ruleset.get("CheckoutErrorRatio"), ruleset.get("CheckoutLatency")
    assert ratio is not None and latency is not None
    assert ratio.render_annotations({"http.route": "/pay"}, 0.07123) == {"summary": "/pay error ratio 0.071"}
    band = {"expected": 120.0, "lower": 80.0, "upper": 160.0, "score": 5.5}
    assert latency.render_annotations({}, 400.0, band) == {"summary": "p99 400.0 ms, expected 120.0 (score 5.5)"}


def test_an_annotation_that_fails_on_a_real_alert_still_renders_its_reason() -> None:
    rule = loaded(OK).get("CheckoutErrorRatio")
    assert rule is not None
    [summary] = rule.render_annotations({}, 0.5).values()
    assert summary.startswith("(annotation summary failed to render:") and "http.route" in summary


def test_definition_hash_is_stable_across_reloads_of_an_unchanged_file(rules_dir: Path) -> None:
    first, second = loaded(rules_dir), loaded(rules_dir)
    assert [r.definition_hash for r in first.rules()] == [r.definition_hash for r in second.rules()]
    assert first.version == second.version
    assert second.changes_since(first).kept == tuple(r.name for r in first.rules())


def test_definition_hash_ignores_spelling_of_defaults(rules_dir: Path) -> None:
    before = loaded(rules_dir).get("CheckoutLatency")
    edit(rules_dir / "checkout.yaml", "        min_delta: 20ms\n", "        min_delta: 20ms\n        history: 7d\n")
    edit(rules_dir / "checkout.yaml", "    window: 5m\n", "    window: 300s\n    for: 0s\n")
    after = loaded(rules_dir).get("CheckoutLatency")
    assert before is not None and after is not None
    assert before.definition_hash == after.definition_hash


def test_definition_hash_changes_with_what_decides_firing(rules_dir: Path) -> None:
    before = loaded(rules_dir)
    edit(rules_dir / "checkout.yaml", 'threshold: "> 3%"', 'threshold: "> 4%"')
    after = loaded(rules_dir)
    changes = after.changes_since(before)
    assert changes.changed == ("CheckoutErrorRatio",)
    assert set(changes.kept) == {"CheckoutLatency", "ErrorLogs", "QueueSilent"}
    assert after.version != before.version


def test_rewording_an_annotation_keeps_the_definition_but_changes_the_version(rules_dir: Path) -> None:
    before = loaded(rules_dir)
    edit(rules_dir / "checkout.yaml", "error ratio {{", "errors {{")
    after = loaded(rules_dir)
    assert after.changes_since(before).changed == ()
    assert after.version != before.version
    rule = after.get("CheckoutErrorRatio")
    assert rule is not None and rule.render_annotations({"http.route": "/a"}, 0.5) == {"summary": "/a errors 0.5"}


def test_rules_are_immutable_and_hashable() -> None:
    rule = loaded(OK).get("ErrorLogs")
    assert rule is not None
    with pytest.raises(ValueError, match="frozen"):
        rule.tier = "P0"  # type: ignore[misc]
    assert rule in {rule}
