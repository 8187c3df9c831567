"""Static thresholds: `"> 0.03"`, `"<= 250ms"`, `"!= 0"` parsed once into a comparison that rules apply."""

from __future__ import annotations

import enum
import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import PlainSerializer, PlainValidator

from collector.units import parse_number

_TEXT = re.compile(r"^\s*(>=|<=|==|!=|>|<)\s*(\S.*?)\s*$")


class Comparison(enum.StrEnum):
    """The operator of a threshold, spelled as users write it."""

    GT = ">"
    GTE = ">="
    LT = "<"
    LTE = "<="
    EQ = "=="
    NE = "!="


_APPLY: dict[Comparison, Callable[[float, float], bool]] = {
    Comparison.GT: operator.gt,
    Comparison.GTE: operator.ge,
    Comparison.LT: operator.lt,
    Comparison.LTE: operator.le,
    Comparison.EQ: operator.eq,
    Comparison.NE: operator.ne,
}


def _plain(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


@dataclass(frozen=True, slots=True)
class Threshold:
    """A comparison against a fixed value; `breached(v)` is true when `v <op> value` holds.

    `text` keeps the number as written (`250ms`, `3%`) so that alerts show the
    threshold the way its author wrote it; two thresholds with the same operator
    and value are equal whatever their spelling.
    """

    op: Comparison
    value: float
    text: str = field(default="", compare=False)

    @classmethod
    def parse(cls, text: str) -> Threshold:
        """`"> 0.03"`, `">=5"`, `"> 250ms"` (= 250, milliseconds), `"> 3%"` (= 0.03). Raises ValueError."""
        m = _TEXT.match(text)
        if m is None:
            raise ValueError(
                f"invalid threshold {text!r} (expected an operator and a number, e.g. \"> 0.03\", \"<= 250ms\","
                " \"> 3%\"; operators > >= < <= == !=)"
            )
        number = m.group(2)
        try:
            value = parse_number(number)
        except ValueError:
            raise ValueError(
                f"invalid threshold {text!r}: {number!r} is not a number (expected e.g. 0.03, 3%, 250ms)"
            ) from None
        if not math.isfinite(value):
            raise ValueError(f"invalid threshold {text!r}: the value must be a finite number")
        return cls(Comparison(m.group(1)), value, number)

    def breached(self, value: float) -> bool:
        """Whether `value` is on the firing side. NaN (no meaningful value) never breaches."""
        if math.isnan(value):
            return False
        return _APPLY[self.op](value, self.value)

    def __str__(self) -> str:
        return f"{self.op.value} {self.text or _plain(self.value)}"


def recover_problem(firing: Threshold, recover: Threshold) -> str | None:
    """Why `recover` cannot end an alert raised by `firing`, or None when it can.

    A recovery threshold adds hysteresis: the alert resolves only once the value
    is back past a point that is itself clear of the firing condition. Any value
    satisfying both would make the alert fire and resolve at the same time.
    """
    c, r = firing.value, recover.value
    upward = firing.op in (Comparison.GT, Comparison.GTE)
    downward = firing.op in (Comparison.LT, Comparison.LTE)
    if not (upward or downward):
        return f"recover needs a condition with >, >=, < or <=, not {firing.op.value!r}"
    wanted = "< or <=" if upward else "> or >="
    if upward and recover.op not in (Comparison.LT, Comparison.LTE):
        return f"recover {str(recover)!r} must use {wanted} to clear the condition {str(firing)!r}"
    if downward and recover.op not in (Comparison.GT, Comparison.GTE):
        return f"recover {str(recover)!r} must use {wanted} to clear the condition {str(firing)!r}"
    if upward:
        # Only "<= x" with x == c against ">= c" shares a point; otherwise x <= c keeps the sets apart.
        clear = r < c if (firing.op is Comparison.GTE and recover.op is Comparison.LTE) else r <= c
    else:
        clear = r > c if (firing.op is Comparison.LTE and recover.op is Comparison.GTE) else r >= c
    if clear:
        return None
    example = f"{'<' if upward else '>'} {firing.text or _plain(c)}"
    return (
        f"recover {str(recover)!r} overlaps the condition {str(firing)!r}: it must lie on the non-firing side,"
        f" e.g. {example!r}"
    )


def _validate(value: Any) -> Threshold:
    if isinstance(value, Threshold):
        return value
    if isinstance(value, str):
        return Threshold.parse(value)
    raise ValueError(
        "a threshold is quoted text with an operator, e.g. \"> 0.03\" (unquoted > starts a YAML block)"
    )


# The pydantic field type: validated from text, serialised back to the normalised text.
ThresholdText = Annotated[Threshold, PlainValidator(_validate), PlainSerializer(str, return_type=str)]
