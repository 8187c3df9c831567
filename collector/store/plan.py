"""Read plans: which keys ingest reads for a signal, and which series each distinct key tuple feeds.

Ingest turns every record into a *key tuple*: one slot per key that some rule of
the signal reads, filled from the resource and then from the record (the
record's own attributes win; a key repeated within one attribute list, which
OTLP forbids but a client may still send, counts with its first value). ``service.name`` is always slot 0 and is read
from the resource only, as OTel defines it. Attribute slots hold a string value as
it is and any other value as the serialized ``KeyValue`` bytes (metric points: always
the bytes), both cheap to take and hashable; bytes are decoded only when a tuple is
seen for the first time, when `targets` runs every rule's matchers once and
remembers the answer. `may_feed` answers the same question early, from the slots
known before a record's attributes are read (its service, a log record's severity),
and `reads_attributes` whether a service's records need their attributes read at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from collector.model import LOG_FIELDS, SPAN_FIELDS, AttrValue, Matcher, Op, Scanned, Signal, attr_text

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


def slot_value(kv: Any) -> str | bytes:
    """What a key tuple's slot holds for an attribute: a non-empty string value itself, else the KeyValue's bytes.

    `record_attributes` inlines this (a call per attribute costs as much as the reads).
    """
    text: str = kv.value.string_value
    return text or kv.SerializeToString()


def record_attributes(
    vals: list[Any], attributes: Iterable[Any], get_slot: Callable[[str], int | None], every: int
) -> None:
    """Fill a key tuple's attribute slots from a span's or log record's attributes, over what the resource gave.

    `get_slot` is the layout's `attrs.get` and `every` its `all_attrs`; reading stops once every slot is
    filled, and a key repeated in the list counts with its first value.
    """
    found = 0  # a bit per slot this record has filled
    for kv in attributes:
        slot = get_slot(kv.key)
        if slot is not None and not found >> slot & 1:
            vals[slot] = kv.value.string_value or kv.SerializeToString()  # as slot_value
            found |= 1 << slot
            if found == every:
                return


def resource_base(attributes: Iterable[Any], layout: Layout) -> list[Any]:
    """A key tuple's slots filled from resource attributes (a key repeated in the list: its first value counts)."""
    base: list[Any] = [None] * len(layout.keys)
    get_slot = layout.attrs.get
    for kv in attributes:
        key = kv.key
        if key == SERVICE:
            if base[0] is None:
                base[0] = kv.value.string_value
        else:
            slot = get_slot(key)
            if slot is not None and base[slot] is None:
                base[slot] = slot_value(kv)
    return base


def by_resource(
    resource_lists: Iterable[Any], scopes: str, records: str, scanned: Scanned | None
) -> tuple[list[tuple[Any, int]], list[Any]]:
    """Each resource of a request with how many records it holds, and all the records in request order.

    `scopes` and `records` name the fields (`scope_spans` and `spans`, …). The records are those ingest
    wrapped while validating (`scanned`), when it hands them over.
    """
    resource_lists = list(resource_lists)
    resources = [(rl.resource, sum(len(getattr(sc, records)) for sc in getattr(rl, scopes))) for rl in resource_lists]
    if scanned is not None and len(scanned.records) == sum(n for _, n in resources):
        return resources, scanned.records
    return resources, [r for rl in resource_lists for sc in getattr(rl, scopes) for r in getattr(sc, records)]


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

    @property
    def all_attrs(self) -> int:
        """One bit per attribute slot: a record's reader stops once it has filled them all."""
        return sum(1 << slot for slot in self.attrs.values())

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


def _index_values(m: Matcher | int) -> frozenset[str] | None:
    """The texts a value must have to pass `m`, when `m` names them (a plain equality or `in`)."""
    if isinstance(m, int) or m.negate:
        return None
    if m.op is Op.EQ and isinstance(m.value, str):
        return frozenset({m.value})
    if m.op is Op.IN and isinstance(m.value, frozenset):
        return m.value
    return None


class Plan:
    """A layout plus the routes fed by it, with the memo from key tuple to (target, by-values).

    Routes with a plain equality or `in` matcher are indexed by that matcher's slot and
    texts, so a key tuple seen for the first time is checked against the routes that
    can match it (typically one per rule naming its service), not against every rule.
    """

    def __init__(self, layout: Layout, routes: list[Route]) -> None:
        self.layout = layout
        self.routes = routes
        self.memo: dict[tuple[Any, ...], list[tuple[Any, tuple[str, ...]]]] = {}
        self._may_feed: dict[tuple[tuple[int, Any], ...], bool] = {}
        # The routes that read a record attribute (in `where` or `by`), and by service whether one may match.
        attr_slots = set(layout.attrs.values())
        self._attr_routes = [
            r for r in routes if attr_slots.intersection(r.by) or any(slot in attr_slots for slot, _ in r.where)
        ]
        self._reads_attributes: dict[str | None, bool] = {}
        self._unindexed: list[tuple[int, Route]] = []
        self._index: dict[int, dict[str, list[tuple[int, Route]]]] = {}
        for pos, route in enumerate(routes):
            for slot, m in route.where:
                texts = _index_values(m)
                if texts is not None:
                    by_text = self._index.setdefault(slot, {})
                    for text in texts:
                        by_text.setdefault(text, []).append((pos, route))
                    break
            else:
                self._unindexed.append((pos, route))

    def _candidates(self, values: list[AttrValue]) -> list[tuple[int, Route]]:
        """The routes that may match a tuple with these values, in route order."""
        found = list(self._unindexed)
        for slot, by_text in self._index.items():
            text = attr_text(values[slot])
            if text is not None:
                found += by_text.get(text, ())
        if len(self._index) > 1 or (self._index and self._unindexed):
            found.sort(key=_position)
        return found

    def may_feed(self, known: tuple[tuple[int, Any], ...]) -> bool:
        """Whether a key tuple holding `known` (slot, raw value) pairs can feed any route, whatever else it holds.

        When not, `targets` is empty for every such tuple. A reader asks before it fills the slots that
        cost most to read (a record's attributes): a record that can feed nothing is read no further.
        """
        found = self._may_feed.get(known)
        if found is None:
            found = self._may_match(known, self.routes)
            if len(self._may_feed) >= MEMO_LIMIT:
                self._may_feed.clear()
            self._may_feed[known] = found
        return found

    def reads_attributes(self, service: str | None) -> bool:
        """Whether a record of `service` may feed a route that reads a record attribute.

        When not, its reader leaves the attribute slots as the resource filled them: no route that
        could take the record looks at them, so `targets` answers alike.
        """
        found = self._reads_attributes.get(service)
        if found is None:
            found = self._may_match(((0, service),), self._attr_routes)
            if len(self._reads_attributes) >= MEMO_LIMIT:
                self._reads_attributes.clear()
            self._reads_attributes[service] = found
        return found

    def _may_match(self, known: tuple[tuple[int, Any], ...], routes: list[Route]) -> bool:
        """Whether one of `routes` may match a key tuple holding `known`: only matchers on known slots are checked."""
        partial: list[Any] = [None] * len(self.layout.keys)
        for slot, raw in known:
            partial[slot] = raw
        values = self.layout.decode(tuple(partial))
        slots = {slot for slot, _ in known}
        return any(
            all(isinstance(m, int) or slot not in slots or m.matches(values[slot]) for slot, m in route.where)
            for route in routes
        )

    def targets(self, tup: tuple[Any, ...]) -> list[tuple[Any, tuple[str, ...]]]:
        """Every (target, by-values) a record with this key tuple feeds."""
        found = self.memo.get(tup)
        if found is not None:
            return found
        values = self.layout.decode(tup)
        # `body` is a filter-only key: its slot holds the body matchers' answers, never the text.
        body_slot = self.layout.fields.get("body", -1)
        found = []
        for _, route in self._candidates(values):
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


def _position(candidate: tuple[int, Route]) -> int:
    return candidate[0]
