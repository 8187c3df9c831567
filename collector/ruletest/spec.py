"""The rule test file model: rule files, input series per signal, and the alerts expected at given times."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from collector.ruletest.notation import expand
from collector.units import parse_duration


def _duration(value: Any) -> Any:
    return parse_duration(value) if isinstance(value, str) else value


def _series(value: Any) -> Any:
    expand(value)  # raises ValueError with the bad term
    return str(value)


Duration = Annotated[timedelta, BeforeValidator(_duration)]
Series = Annotated[str, BeforeValidator(_series)]


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be longer than 0s")
    return value


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SpanSeries(Model):
    """Spans of one kind: `rate` spans per second, of which `error_ratio` fail, each lasting `latency` ms."""

    attributes: dict[str, str] = Field(default_factory=dict)
    rate: Series
    error_ratio: Series = "0"
    latency: Series = "10"


class LogSeries(Model):
    """`rate` log records per second with a fixed severity and body."""

    attributes: dict[str, str] = Field(default_factory=dict)
    severity: Literal["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"] = "INFO"
    body: str = ""
    rate: Series


class MetricSeries(Model):
    """One metric stream: `values` sampled once per step. A counter is sent as a cumulative monotonic sum."""

    name: str
    type: Literal["gauge", "counter"] = "gauge"
    attributes: dict[str, str] = Field(default_factory=dict)
    values: Series


class Inputs(Model):
    spans: tuple[SpanSeries, ...] = ()
    logs: tuple[LogSeries, ...] = ()
    metrics: tuple[MetricSeries, ...] = ()


class ExpectedAlert(Model):
    alertname: str
    state: Literal["pending", "firing"] = "firing"
    # Every label of the alert except alertname and tier (the series' `by` values and the rule's labels).
    labels: dict[str, str] = Field(default_factory=dict)


class Check(Model):
    at: Duration
    alerts: tuple[ExpectedAlert, ...] = ()


class Case(Model):
    name: str
    # Spacing of the input series' steps.
    interval: Annotated[Duration, AfterValidator(_positive)] = timedelta(seconds=10)
    input: Inputs = Inputs()
    expect: tuple[Check, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _checks_in_order(self) -> Case:
        times = [c.at for c in self.expect]
        if times != sorted(times):
            raise ValueError("expect: times must be in increasing order")
        return self


class TestFile(Model):
    rule_files: tuple[str, ...] = Field(min_length=1)
    # How often the rules are evaluated; default: each group's own interval.
    evaluation_interval: Annotated[Duration, AfterValidator(_positive)] | None = None
    tests: tuple[Case, ...] = Field(min_length=1)
