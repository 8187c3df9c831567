"""`where` clauses: YAML matchers turned into collector.model.Matcher values, every mistake at its own key.

Besides attributes, some keys name record fields, which the store presents as:
`span.kind` and `status.code` as lower-case names (`server`, `error`), `span.name`
and `body` as text, and `severity` as the OTLP SeverityNumber (1..24).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from collector.model import SEVERITY_NUMBERS, Matcher, Op, Signal, attr_text
from collector.rules.fields import Loc, invalid
from collector.units import parse_number

_OPS = {"regex": Op.REGEX, "in": Op.IN, "gt": Op.GT, "gte": Op.GTE, "lt": Op.LT, "lte": Op.LTE}
_OP_NAMES = "regex, gt, gte, lt, lte, in, not"
_NUMERIC = frozenset({Op.GT, Op.GTE, Op.LT, Op.LTE})
_CHOICES = {
    "span.kind": ("server", "client", "internal", "producer", "consumer"),
    "status.code": ("ok", "error", "unset"),
}
# Each severity name covers four levels: ERROR is 17 (ERROR) to 20 (ERROR4).
_SEVERITY_SPAN = 3
_MAX_SEVERITY = 24


_Errors = list[tuple[Loc, str]]


class _Kind(enum.Enum):
    ATTRIBUTE = "attribute"
    CHOICE = "choice"
    TEXT = "text"
    SEVERITY = "severity"


def _kind(key: str, signal: Signal | None) -> _Kind:
    # Field names are special only on their own signal; elsewhere they are ordinary attribute keys.
    if signal is Signal.SPANS and key in _CHOICES:
        return _Kind.CHOICE
    if (signal is Signal.SPANS and key == "span.name") or (signal is Signal.LOGS and key == "body"):
        return _Kind.TEXT
    if signal is Signal.LOGS and key == "severity":
        return _Kind.SEVERITY
    return _Kind.ATTRIBUTE


def parse_where(raw: Any, signal: Signal | None) -> tuple[Matcher, ...]:
    """Convert a `where` mapping into matchers (all must hold). Raises ValidationError placed at each bad key."""
    if raw is None:
        return ()
    if isinstance(raw, (tuple, list)) and all(isinstance(m, Matcher) for m in raw):
        return tuple(raw)
    if not isinstance(raw, Mapping):
        raise invalid([((), "where is a mapping of key: value, or key: {regex|gt|gte|lt|lte|in|not: …}")])
    errors: _Errors = []
    out: list[Matcher] = []
    for key, spec in raw.items():
        if not isinstance(key, str) or not key:
            errors.append(((str(key),), "a where key must be a non-empty attribute name"))
            continue
        matcher = _convert(key, spec, _kind(key, signal), (key,), errors)
        if matcher is not None:
            out.append(matcher)
    if errors:
        raise invalid(errors)
    return tuple(out)


def _convert(key: str, spec: Any, kind: _Kind, loc: Loc, errors: _Errors) -> Matcher | None:
    if not isinstance(spec, Mapping):
        return _equality(key, spec, kind, loc, errors)
    if len(spec) != 1:
        got = ", ".join(str(k) for k in spec) or "nothing"
        errors.append((loc, f"a matcher takes exactly one of {_OP_NAMES} (got {got})"))
        return None
    ((name, arg),) = spec.items()
    sub = (*loc, name)
    if name == "not":
        inner = _convert(key, arg, kind, sub, errors)
        return None if inner is None else replace(inner, negate=not inner.negate)
    op = _OPS.get(name)
    if op is None:
        errors.append((sub, f"unknown matcher {name!r} (expected one of {_OP_NAMES})"))
        return None
    if op is Op.REGEX:
        return _regex(key, arg, kind, sub, errors)
    if op is Op.IN:
        return _in(key, arg, kind, sub, errors)
    return _compare(key, op, arg, kind, sub, errors)


def _scalar_text(value: Any) -> str | None:
    if isinstance(value, (str, bool, int, float)):
        return attr_text(value)
    return None


def _equality(key: str, value: Any, kind: _Kind, loc: Loc, errors: _Errors) -> Matcher | None:
    if kind is _Kind.SEVERITY:
        levels = _severity_levels(value, loc, errors)
        if levels is None:
            return None
        return Matcher(key, Op.IN, frozenset(str(n) for n in levels))
    text = _value_text(key, value, kind, loc, errors)
    return None if text is None else Matcher(key, Op.EQ, text)


def _value_text(key: str, value: Any, kind: _Kind, loc: Loc, errors: _Errors) -> str | None:
    text = _scalar_text(value)
    if text is None:
        errors.append((loc, "expected a value (text, number, true/false) or a mapping with one of " + _OP_NAMES))
        return None
    if kind is _Kind.CHOICE:
        choices = _CHOICES[key]
        if text.lower() not in choices:
            errors.append((loc, f"{key} must be one of {', '.join(choices)} (got {text!r})"))
            return None
        return text.lower()
    return text


def _regex(key: str, arg: Any, kind: _Kind, loc: Loc, errors: _Errors) -> Matcher | None:
    if kind is _Kind.SEVERITY:
        errors.append((loc, "severity compares levels: use a name (ERROR), a number, in, or gt/gte/lt/lte"))
        return None
    if not isinstance(arg, str):
        errors.append((loc, "a regex is text, e.g. {regex: \"5..\"}"))
        return None
    try:
        # Anchored on both ends (fullmatch), as in PromQL, so "GET" never matches "GETTER".
        pattern = re.compile(arg)
    except re.error as exc:
        errors.append((loc, f"invalid regex {arg!r}: {exc.msg} at position {exc.pos}"))
        return None
    return Matcher(key, Op.REGEX, pattern)


def _in(key: str, arg: Any, kind: _Kind, loc: Loc, errors: _Errors) -> Matcher | None:
    if not isinstance(arg, list) or not arg:
        errors.append((loc, "in takes a non-empty list of values, e.g. {in: [GET, POST]}"))
        return None
    texts: set[str] = set()
    ok = True
    for i, item in enumerate(arg):
        if kind is _Kind.SEVERITY:
            levels = _severity_levels(item, (*loc, i), errors)
            ok = ok and levels is not None
            texts.update(str(n) for n in levels or ())
            continue
        text = _value_text(key, item, kind, (*loc, i), errors)
        ok = ok and text is not None
        if text is not None:
            texts.add(text)
    return Matcher(key, Op.IN, frozenset(texts)) if ok else None


def _compare(key: str, op: Op, arg: Any, kind: _Kind, loc: Loc, errors: _Errors) -> Matcher | None:
    if kind in (_Kind.CHOICE, _Kind.TEXT):
        errors.append((loc, f"{key} is compared as text: use equality, in, regex or not"))
        return None
    if kind is _Kind.SEVERITY:
        levels = _severity_levels(arg, loc, errors)
        if levels is None:
            return None
        # A name stands for its whole range: gt ERROR is above ERROR4, lt ERROR is below ERROR.
        bound = levels[-1] if op in (Op.GT, Op.LTE) else levels[0]
        return Matcher(key, op, float(bound))
    if isinstance(arg, bool) or not isinstance(arg, (str, int, float)):
        errors.append((loc, f"{op.value} takes a number, e.g. 500, 0.03, 3% or 250ms"))
        return None
    try:
        return Matcher(key, op, parse_number(arg))
    except ValueError as exc:
        errors.append((loc, str(exc)))
        return None


def _severity_levels(value: Any, loc: Loc, errors: _Errors) -> list[int] | None:
    """The SeverityNumbers a name (ERROR → 17..20) or a number (17 → 17) stands for."""
    if isinstance(value, int) and not isinstance(value, bool):
        if 1 <= value <= _MAX_SEVERITY:
            return [value]
    elif isinstance(value, str) and value.upper() in SEVERITY_NUMBERS:
        low = SEVERITY_NUMBERS[value.upper()]
        return list(range(low, low + _SEVERITY_SPAN + 1))
    names = ", ".join(n for n in SEVERITY_NUMBERS if n != "WARNING")
    errors.append((loc, f"severity must be a name ({names}) or a number from 1 to {_MAX_SEVERITY} (got {value!r})"))
    return None


def where_json(matchers: tuple[Matcher, ...]) -> list[dict[str, Any]]:
    """A plain, order-stable form of matchers, for hashing and for showing a rule."""
    out: list[dict[str, Any]] = []
    for m in matchers:
        value: Any = m.value
        if isinstance(value, re.Pattern):
            value = value.pattern
        elif isinstance(value, frozenset):
            value = sorted(value)
        out.append({"key": m.key, "op": m.op.value, "value": value, "negate": m.negate})
    return out
