"""The rule file model of DESIGN §4 (pydantic, frozen, unknown keys are errors): one group of rules per file."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import timedelta
from functools import cached_property
from typing import Any, Literal

from pydantic import Field, StrictInt, ValidationInfo, field_serializer, field_validator, model_validator

from collector.model import Matcher, SeriesSelector, Signal
from collector.rules.conditions import Condition
from collector.rules.fields import Duration, Frozen, Loc, PositiveDuration, invalid
from collector.rules.matchers import parse_where, where_json
from collector.rules.templates import SAMPLE_BAND, SAMPLE_VALUE, alert_context, render_annotations, template_problem
from collector.rules.threshold import ThresholdText, recover_problem
from collector.units import format_duration

Tier = Literal["P0", "P1", "P2"]
NoData = Literal["ok", "alerting", "keep"]

# What each signal can be measured by (DESIGN §4). Latencies are in milliseconds.
MEASURES: Mapping[Signal, tuple[str, ...]] = {
    Signal.SPANS: (
        "count", "rate", "error_count", "error_ratio", "latency_avg", "latency_max",
        "latency_p50", "latency_p90", "latency_p95", "latency_p99",
    ),
    Signal.METRICS: ("last", "avg", "min", "max", "sum", "rate", "increase", "p50", "p90", "p95", "p99"),
    Signal.LOGS: ("count", "rate"),
}
# Measure of an `absent` rule that names none: it only asks whether any data came.
ABSENT_MEASURE: Mapping[Signal, str] = {Signal.SPANS: "count", Signal.METRICS: "last", Signal.LOGS: "count"}
# Labels every alert gets from its rule; nothing else may set them.
RESERVED_LABELS = ("alertname", "tier")


class Select(Frozen):
    """Which records a rule reads: a signal, a metric name for metrics, and `where` matchers (all must hold)."""

    signal: Signal
    metric: str | None = Field(default=None, validate_default=True)
    where: tuple[Matcher, ...] = ()

    @field_validator("metric")
    @classmethod
    def _metric_iff_metrics(cls, value: str | None, info: ValidationInfo) -> str | None:
        signal = info.data.get("signal")
        if signal is Signal.METRICS and not value:
            raise ValueError("required key is missing: signal metrics needs a metric name, e.g. go.goroutine.count")
        if signal is not None and signal is not Signal.METRICS and value is not None:
            raise ValueError(f"metric applies only to signal metrics (this rule selects {signal.value})")
        return value

    @field_validator("where", mode="plain")
    @classmethod
    def _matchers(cls, value: Any, info: ValidationInfo) -> tuple[Matcher, ...]:
        return parse_where(value, info.data.get("signal"))

    @field_serializer("where")
    def _where_json(self, value: tuple[Matcher, ...]) -> list[dict[str, Any]]:
        return where_json(value)


class Rule(Frozen):
    """One alert rule, validated. Field order matters: later validators read earlier fields."""

    name: str = Field(min_length=1)
    tier: Tier
    select: Select
    by: tuple[str, ...] = ()
    window: PositiveDuration
    condition: Condition
    # Hysteresis: once firing, the alert resolves only when this threshold holds.
    recover: ThresholdText | None = None
    measure: str
    for_: Duration = Field(default=timedelta(0), alias="for")
    keep_firing_for: Duration = timedelta(0)
    # A window with fewer events than this is "no data", not a value (0 = no minimum).
    min_samples: StrictInt = Field(default=0, ge=0)
    no_data: NoData = "ok"
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _absent_measure(cls, data: Any) -> Any:
        # `absent` only asks whether data came, so its measure may be left out.
        if isinstance(data, dict) and "measure" not in data:
            condition, select = data.get("condition"), data.get("select")
            if isinstance(condition, dict) and condition.get("absent") is True and isinstance(select, dict):
                signal = select.get("signal")
                if signal in {s.value for s in Signal}:
                    return {**data, "measure": ABSENT_MEASURE[Signal(signal)]}
        return data

    @field_validator("by")
    @classmethod
    def _by_keys(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        errors: list[tuple[Loc, str]] = []
        for i, key in enumerate(value):
            if not key:
                errors.append(((i,), "a by key must be a non-empty attribute name"))
            elif key in RESERVED_LABELS:
                errors.append(((i,), f"{key} is set by Vigil on every alert and cannot be a by key"))
            elif key in value[:i]:
                errors.append(((i,), f"{key} is listed twice"))
        if errors:
            raise invalid(errors)
        return value

    @field_validator("recover")
    @classmethod
    def _recover_clears(cls, value: Any, info: ValidationInfo) -> Any:
        condition = info.data.get("condition")
        if value is None or condition is None:
            return value
        if condition.threshold is None:
            raise ValueError(f"recover applies only to threshold conditions (this rule's is {condition.kind})")
        problem = recover_problem(condition.threshold, value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @field_validator("measure")
    @classmethod
    def _measure_fits(cls, value: str, info: ValidationInfo) -> str:
        select = info.data.get("select")
        if select is not None and value not in MEASURES[select.signal]:
            allowed = ", ".join(MEASURES[select.signal])
            raise ValueError(f"measure {value!r} does not apply to {select.signal.value}; use one of {allowed}")
        return value

    @field_validator("labels")
    @classmethod
    def _labels_free(cls, value: dict[str, str]) -> dict[str, str]:
        errors: list[tuple[Loc, str]] = [
            ((key,), f"{key} is set by Vigil from the rule and cannot be a label")
            for key in value
            if key in RESERVED_LABELS
        ]
        errors += [((key,), "a label name must not be empty") for key in value if not key]
        if errors:
            raise invalid(errors)
        return value

    @field_validator("annotations")
    @classmethod
    def _templates_render(cls, value: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        context = _sample_context(info.data)
        errors: list[tuple[Loc, str]] = []
        for key, text in value.items():
            problem = template_problem(text, context)
            if problem is not None:
                errors.append(((key,), problem))
        if errors:
            raise invalid(errors)
        return value

    @cached_property
    def selector(self) -> SeriesSelector:
        """What the store must keep for this rule and how it splits records into series."""
        return SeriesSelector(self.select.signal, self.select.where, self.by, self.select.metric)

    @cached_property
    def definition_hash(self) -> str:
        """Hash of everything that decides when this rule fires.

        A reload keeps the alert state of a rule whose hash did not change. Labels and
        annotations only shape the notification, so rewording a summary does not reset
        a pending timer or end an incident.
        """
        return _digest(self.model_dump(mode="json", by_alias=True, exclude={"labels", "annotations"}))

    @cached_property
    def content_hash(self) -> str:
        """Hash of the whole rule, labels and annotations included."""
        return _digest(self.model_dump(mode="json", by_alias=True))

    def __hash__(self) -> int:
        return hash(self.content_hash)

    def alert_labels(self, series: Mapping[str, str]) -> dict[str, str]:
        """Labels of one alert instance: the series' `by` values, then the rule's labels, then alertname and tier."""
        out = {key: series.get(key, "") for key in self.by}
        out.update(self.labels)
        out.update(alertname=self.name, tier=self.tier)
        return out

    def render_annotations(
        self, labels: Mapping[str, str], value: float | None, band: Mapping[str, float] | None = None
    ) -> dict[str, str]:
        """Annotations of one alert. `band` holds expected, lower, upper and score for baseline conditions."""
        context = alert_context(
            labels=labels, value=value, threshold=self.condition.describe(), baseline=band,
            rule=self.name, tier=self.tier, window=format_duration(self.window),
        )
        return render_annotations(self.annotations, context)


def _sample_context(fields: Mapping[str, Any]) -> dict[str, Any] | None:
    """A made-up alert of this rule to try its templates on; None when the rule is too broken to build one."""
    if not {"name", "tier", "by", "window", "condition", "labels"} <= fields.keys():
        return None
    condition: Condition = fields["condition"]
    labels = {key: f"<{key}>" for key in fields["by"]}
    labels.update(fields["labels"])
    labels.update(alertname=fields["name"], tier=fields["tier"])
    return alert_context(
        labels=labels,
        value=SAMPLE_VALUE,
        threshold=condition.describe(),
        baseline=SAMPLE_BAND if condition.kind == "baseline" else None,
        rule=fields["name"],
        tier=fields["tier"],
        window=format_duration(fields["window"]),
    )


def _digest(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class RuleFile(Frozen):
    """One rule file: a named group evaluated every `interval` (None: the config's evaluation.interval)."""

    group: str = Field(min_length=1)
    interval: PositiveDuration | None = None
    rules: tuple[Rule, ...] = ()
