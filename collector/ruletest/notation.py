"""The compact series notation of rule tests: `"1 2 3"`, `"5x3"` (5 5 5 5), `"1+2x3"` (1 3 5 7), `"_"` (no data)."""

from __future__ import annotations

import re

_TERM = re.compile(
    r"^(?P<start>-?\d+(?:\.\d+)?(?:e-?\d+)?)(?:(?P<sign>[+-])(?P<step>\d+(?:\.\d+)?(?:e-?\d+)?))?"
    r"(?:x(?P<times>\d+))?$"
)


def expand(text: str | float | int) -> list[float | None]:
    """Expand a series; `None` marks a step without data. Raises ValueError naming the bad term."""
    if isinstance(text, bool):
        raise ValueError("a series is numbers, not a boolean")
    if isinstance(text, (int, float)):
        return [float(text)]
    out: list[float | None] = []
    for term in text.split():
        if term == "_":
            out.append(None)
            continue
        if term.startswith("_x") and term[2:].isdigit():
            out.extend([None] * (int(term[2:]) + 1))
            continue
        m = _TERM.match(term)
        if not m:
            raise ValueError(f"cannot read {term!r} (expected e.g. 5, 5x3, 1+2x3, 10-1x5 or _)")
        start = float(m.group("start"))
        step = float(m.group("step") or 0) * (-1 if m.group("sign") == "-" else 1)
        times = int(m.group("times")) if m.group("times") else 0
        out.extend(start + step * k for k in range(times + 1))
    return out
