"""Read plans: which keys ingest reads for a signal, and which series each distinct key tuple feeds.

Ingest turns every record into a *key tuple*: one slot per key that some rule of
the signal reads, filled from the resource and then from the record (the
record's own attributes win). ``service.name`` is always slot 0 and is read
from the resource only, as OTel defines it. Attribute slots hold the serialized
``KeyValue`` bytes, which are cheap to take and hashable; they are decoded only
when a tuple is seen for the first time, when `targets` runs every rule's
matchers once and remembers the answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from collector.model import LOG_FIELDS, SPAN_FIELDS, AttrValue, Matcher, Signal, attr_text

SERVICE = "service.name"
# Past this many distinct tuples the memo starts over, so odd traffic cannot grow it without end.
MEMO_LIMIT = 100_000
SPAN_KINDS = ("unspecified", "internal", "server", "client", "producer", "consumer")
STATUS_CODES = ("unset", "ok", "error")


def any_value(value: AnyValue) -> AttrValue:
    """An OTLP AnyValue as a rule sees it; arrays and maps become their text."""
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "bytes_value":
        return bytes(value.bytes_value).hex()
    if which == "array_value":
        return "[" + ", ".join(attr_text(any_value(v)) or "" for v in value.array_value.values) + "]"
    if which == "kvlist_value":
        inner = ", ".join(f"{kv.key}: {attr_text(any_value(kv.value)) or ''}" for kv in value.kvlist_value.values)
        return "{" + inner + "}"
    result: AttrValue = getattr(value, which)
    return result


def body_text(value: AnyValue) -> str:
    """The text of a log body: the string itself, or the text of a scalar."""
    if value.WhichOneof("value") == "string_value":
        return value.string_value
    return attr_text(any_value(value)) or ""


def _decode(raw: Any) -> AttrValue:
    if type(raw) is bytes:
        return any_value(KeyValue.FromString(raw).value)
    value: AttrValue = raw
    return value


@dataclass(frozen=True, slots=True)
class Layout:
    """The slots of a signal's key tuple."""

    keys: tuple[str, ...]
    attrs: dict[str, int]  # attribute key -> slot (service.name excluded)
    fields: dict[str, int]  # record field (span.name, severity, …) -> slot
    body_matchers: tuple[Matcher, ...]  # `where` matchers on a log body, answered per record

    @classmethod
    def of(cls, signal: Signal, key_sets: Iterable[frozenset[str]], body_matchers: Sequence[Matcher] = ()) -> Layout:
        special = SPAN_FIELDS if signal is Signal.SPANS else LOG_FIELDS if signal is Signal.LOGS else frozenset()
        wanted: set[str] = set()
        for key_set in key_sets:
            wanted |= key_set
        wanted.discard(SERVICE)
        fields = sorted(wanted & special)
        if body_matchers and "body" not in fields:
            fields.append("body")
        attrs = sorted(wanted - special)
        keys = (SERVICE, *fields, *attrs)
        return cls(
            keys=keys,
            attrs={k: i for i, k in enumerate(keys) if k in attrs},
            fields={k: i for i, k in enumerate(keys) if k in fields},
            body_matchers=tuple(dict.fromkeys(body_matchers)),
        )

    def decode(self, tup: tuple[Any, ...]) -> list[AttrValue]:
        """The values of a key tuple, as matchers and `by` see them."""
        values = [_decode(raw) for raw in tup]
        for name, i in self.fields.items():
            raw = tup[i]
            if name == "span.kind":
                values[i] = SPAN_KINDS[raw] if isinstance(raw, int) and 0 <= raw < len(SPAN_KINDS) else None
            elif name == "status.code":
                values[i] = STATUS_CODES[raw] if isinstance(raw, int) and 0 <= raw < len(STATUS_CODES) else None
            elif name == "severity":
                values[i] = raw or None
        return values


class Route:
    """One table's selector compiled against a layout."""

    __slots__ = ("by", "target", "where")

    def __init__(self, layout: Layout, target: Any, where: Sequence[Matcher], by: Sequence[str]) -> None:
        self.target = target
        self.where = [self._check(layout, m) for m in where]
        self.by = tuple(layout.keys.index(k) for k in by)

    @staticmethod
    def _check(layout: Layout, m: Matcher) -> tuple[int, Matcher | int]:
        if m.key == "body" and layout.body_matchers:
            # Body matchers run per record; the body slot holds their answers.
            return layout.fields["body"], layout.body_matchers.index(m)
        return layout.keys.index(m.key), m


class Plan:
    """A layout plus the routes fed by it, with the memo from key tuple to (target, by-values)."""

    def __init__(self, layout: Layout, routes: list[Route]) -> None:
        self.layout = layout
        self.routes = routes
        self.memo: dict[tuple[Any, ...], list[tuple[Any, tuple[str, ...]]]] = {}

    def targets(self, tup: tuple[Any, ...]) -> list[tuple[Any, tuple[str, ...]]]:
        """Every (target, by-values) a record with this key tuple feeds."""
        found = self.memo.get(tup)
        if found is not None:
            return found
        values = self.layout.decode(tup)
        # `body` is a filter-only key: its slot holds the body matchers' answers, never the text.
        body_slot = self.layout.fields.get("body", -1)
        found = []
        for route in self.routes:
            for slot, m in route.where:
                if isinstance(m, int):
                    if not tup[slot][m]:
                        break
                elif not m.matches(values[slot]):
                    break
            else:
                byvals = tuple(
                    "" if slot == body_slot else attr_text(values[slot]) or "" for slot in route.by
                )
                found.append((route.target, byvals))
        if len(self.memo) >= MEMO_LIMIT:
            self.memo.clear()
        self.memo[tup] = found
        return found
