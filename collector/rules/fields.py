"""Value types shared by the rule schema: durations, numbers with units, and errors placed at a sub-path."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, PlainSerializer, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

from collector.units import format_duration, parse_duration, parse_number

Loc = tuple[str | int, ...]


class Frozen(BaseModel):
    """Base of every rule model: immutable, and a key nobody declared is an error."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def invalid(errors: Sequence[tuple[Loc, str]]) -> ValidationError:
    """A ValidationError whose errors sit at `loc` below the value being validated.

    pydantic prefixes the locations of a ValidationError raised inside a validator
    with the validator's own location, so a check on a whole rule can still point
    at `condition.threshold` or `annotations.summary` rather than at the rule.
    """
    return ValidationError.from_exception_data(
        "rule",
        [
            # The message goes through the context so that braces in it (Jinja, regex) stay literal.
            InitErrorDetails(type=PydanticCustomError("rule", "{message}", {"message": msg}), loc=loc, input=None)
            for loc, msg in errors
        ],
    )


def _duration(value: Any) -> Any:
    if isinstance(value, str):
        return parse_duration(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        # Plain numbers are seconds, as in the config file.
        if value < 0:
            raise ValueError("a duration must not be negative")
        return timedelta(seconds=value)
    if isinstance(value, timedelta):
        return value
    raise ValueError("expected a duration such as 250ms, 30s, 5m, 1h or 7d")


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be longer than 0s")
    return value


def _number(value: Any) -> Any:
    if isinstance(value, (str, int, float)):
        return parse_number(value)
    raise ValueError("expected a number such as 0.03, 3% or 250ms")


def _not_negative(value: float) -> float:
    if value < 0:
        raise ValueError("must not be negative")
    return value


# In JSON a duration reads as users write it (`5m`, not `PT5M`); the text is canonical, so hashes stay stable.
_AS_TEXT = PlainSerializer(format_duration, return_type=str, when_used="json")
Duration = Annotated[timedelta, BeforeValidator(_duration), _AS_TEXT]
PositiveDuration = Annotated[timedelta, BeforeValidator(_duration), AfterValidator(_positive), _AS_TEXT]
# `250ms` reads as 250 (milliseconds, the unit of latency measures) and `3%` as 0.03.
Number = Annotated[float, BeforeValidator(_number)]
NonNegativeNumber = Annotated[float, BeforeValidator(_number), AfterValidator(_not_negative)]
