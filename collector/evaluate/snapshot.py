"""Compact, exact JSON encoding of baseline state: float arrays travel as base64 of their little-endian bytes."""

from __future__ import annotations

import base64
import sys
from array import array
from typing import Any

# Bump when a detector's state layout changes; older states are then ignored (the baseline relearns).
STATE_VERSION = 1


def pack(values: array[float]) -> str:
    """base64 of the array's bytes (little-endian), exact for every float including NaN."""
    if sys.byteorder == "big":
        values = array(values.typecode, values)
        values.byteswap()
    return base64.b64encode(values.tobytes()).decode("ascii")


def unpack(text: Any, typecode: str) -> array[float]:
    """Inverse of `pack`. Raises ValueError on anything that is not such an encoding."""
    if not isinstance(text, str):
        raise ValueError("packed floats must be a base64 string")
    raw = base64.b64decode(text.encode("ascii"), validate=True)
    values: array[float] = array(typecode)
    if len(raw) % values.itemsize:
        raise ValueError("packed floats have a partial item")
    values.frombytes(raw)
    if sys.byteorder == "big":
        values.byteswap()
    return values


def number(state: dict[str, Any], key: str) -> float:
    """A float field of a state dict (ints accepted), or ValueError."""
    value = state[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"state field {key!r} is not a number")
    return float(value)


def optional_number(state: dict[str, Any], key: str) -> float | None:
    """A float field that may be null."""
    return None if state.get(key) is None else number(state, key)


def integer(state: dict[str, Any], key: str) -> int:
    """An int field of a state dict, or ValueError."""
    value = state[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"state field {key!r} is not an integer")
    return value


def floats(state: dict[str, Any], key: str) -> list[float]:
    """A list-of-floats field (short lists are stored as plain JSON)."""
    value = state[key]
    if not isinstance(value, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        raise ValueError(f"state field {key!r} is not a list of numbers")
    return [float(v) for v in value]
