"""A rule's condition: exactly one of a static threshold, a dynamic baseline, or absence of data."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, StrictBool, model_validator

from collector.rules.fields import Duration, Frozen, Loc, NonNegativeNumber, PositiveDuration, invalid
from collector.rules.threshold import ThresholdText

_SEASONS = {timedelta(days=1): "1d", timedelta(weeks=1): "1w"}

ConditionKind = Literal["threshold", "baseline", "absent"]


class Baseline(Frozen):
    """A band learned from the series' own past; the value fires when it leaves the band.

    The field names are the contract with the baseline detectors, which take them as they are.
    """

    method: Literal["robust", "ewma", "seasonal"]
    # Length of the profile a seasonal baseline compares with: the same time one day or one week ago.
    season: Duration | None = None
    history: PositiveDuration = timedelta(days=7)
    sensitivity: float = Field(default=3.0, gt=0)
    direction: Literal["above", "below", "both"] = "both"
    min_history: Duration = timedelta(hours=1)
    min_delta: NonNegativeNumber = 0.0

    @model_validator(mode="after")
    def _consistent(self) -> Baseline:
        errors: list[tuple[Loc, str]] = []
        if self.method == "seasonal":
            if self.season is None:
                errors.append((("season",), "required key is missing: a seasonal baseline needs season: 1d or 1w"))
            elif self.season not in _SEASONS:
                errors.append((("season",), "season must be 1d or 1w"))
        elif self.season is not None:
            errors.append((("season",), f"season applies only to method seasonal (this baseline is {self.method})"))
        if self.min_history > self.history:
            errors.append((("min_history",), "min_history must not be longer than history"))
        if errors:
            raise invalid(errors)
        return self


class Condition(Frozen):
    """When a series is breaching. Exactly one field is set; `kind` says which."""

    threshold: ThresholdText | None = None
    baseline: Baseline | None = None
    # Fires when the selected series has no data at all for the whole window.
    absent: StrictBool | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Condition:
        if self.absent is False:
            raise invalid([(("absent",), "absent can only be true; remove it to use threshold or baseline")])
        given = [name for name in ("threshold", "baseline", "absent") if getattr(self, name) is not None]
        if not given:
            raise invalid([((), "one of threshold, baseline or absent is required")])
        if len(given) > 1:
            raise invalid([
                ((name,), f"a rule has one condition: {given[0]} is already given, {name} cannot be added")
                for name in given[1:]
            ])
        return self

    @property
    def kind(self) -> ConditionKind:
        if self.threshold is not None:
            return "threshold"
        if self.baseline is not None:
            return "baseline"
        return "absent"

    def describe(self) -> str | None:
        """The threshold text shown in alerts (`"> 0.03"`), or None for baseline and absent conditions."""
        return str(self.threshold) if self.threshold is not None else None

