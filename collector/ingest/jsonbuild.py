"""OTLP/JSON documents to request messages, built a column of items at a time, attributes from cached fragments.

Converting a request item by item spends most of its time in per-field Python
work, and building a KeyValue with its AnyValue from keyword dicts costs the
protobuf runtime far more than parsing one. So a list of items (all the spans
of a request, all their events, …) is converted a field at a time, in C-level
passes over the column of that field's values (jsonmap.column_converter), into
one keyword tree for a single constructor call. Attributes are mostly left out
of the tree: each one is serialised once, as its containing message (a Span, a
LogRecord, …) holding just that attribute, and cached under its exact JSON
text; once the request is built, each item gets its attributes with one
`MergeFromString` of their fragments joined. Protobuf parses a concatenation of
serialised messages as their merge, so the repeated field gets each attribute
in order. No wire format is written here: every byte comes from `SerializeToString`.
Attribute values that are mostly new (NEW_SHARE) stay in the keyword tree.
The caches are shared by threads (dict operations are atomic) and bounded
(CACHE_ITEMS, about 1 MB per attribute field).

A list whose items are unusual (field names not in lowerCamelCase, a oneof
given twice, an item that is not an object) is converted by jsonmap's
converters instead, which is also what serialises a new attribute: both ways
accept and refuse the same documents and build the same messages
(tests/unit/ingest/test_decode_json_columns.py compares them).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from itertools import accumulate, chain, compress, repeat
from typing import Any

import orjson
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

from collector.ingest.jsonmap import (
    ColumnConvert,
    ShapeError,
    column_converter,
    field_converter,
    guard_exemplars,
    is_repeated,
    message_converter,
)

# Fragments kept per attribute field; when full the cache starts again (high-cardinality values churn it).
CACHE_ITEMS = 4096
# Serialising a new attribute costs about twice what the constructor spends on it: when more than this share
# of a column's attributes are new, the constructor builds them all, and the next SKIP columns of that field too,
# without looking them up.
NEW_SHARE = 0.5
SKIP = 15

_KEY_VALUE = "opentelemetry.proto.common.v1.KeyValue"
_get = dict.get
_NONE = type(None)
_DICT = frozenset({dict})
_LIST_OR_NONE = frozenset({list, _NONE})


class _Fragments:
    """The serialised fragments of one attribute field, by the attribute's JSON text."""

    def __init__(self, descriptor: Descriptor, field: FieldDescriptor) -> None:
        self.name = field.name
        self._cls = GetMessageClass(descriptor)
        convert = field_converter(field)
        assert convert is not None
        self._convert = convert
        self._cache: dict[bytes, bytes] = {}
        self._skip = 0

    def column(self, column: list[Any]) -> tuple[list[Any] | None, list[bytes] | None]:
        """The attributes of each item (None where absent), as constructor keywords or as fragments (b"" for none).

        Keywords when many attributes are new (see NEW_SHARE); (None, None) when there are none at all.
        """
        lists = _arrays(column)
        flat = list(chain.from_iterable(lists))
        if not flat:
            return None, None
        if self._skip:
            self._skip -= 1
            parts = None
        else:
            parts = self._parts(flat)
            if parts is None:
                self._skip = SKIP
        if parts is None:
            convert = self._convert
            return [None if values is None else convert(values) for values in column], None
        return None, list(map(b"".join, _regroup(parts, lists)))

    def _parts(self, flat: list[Any]) -> list[bytes] | None:
        """The fragment of each attribute, or None when too many are new."""
        try:
            keys = self._keys(flat)
        except orjson.JSONEncodeError:  # nested deeper than orjson writes: the converter says what is wrong
            return None
        cache = self._cache
        parts = list(map(cache.get, keys))
        if all(parts):  # a fragment is never empty
            return parts  # type: ignore[return-value]  # no None
        if len(set(compress(keys, map(operator.not_, parts)))) > NEW_SHARE * len(flat):
            return None
        for i, part in enumerate(parts):
            if part is None:
                key = keys[i]
                part = cache.get(key)  # cached since the lookup, by an earlier item with the same attribute
                if part is None:
                    part = self._cls(**{self.name: self._convert(flat[i:i + 1])}).SerializeToString()
                    if len(cache) >= CACHE_ITEMS:
                        cache.clear()
                    cache[key] = part
                parts[i] = part
        return parts  # type: ignore[return-value]  # no None left

    @staticmethod
    def _keys(flat: list[Any]) -> list[bytes]:
        """Each attribute's JSON text, as orjson writes it."""
        if set(map(type, flat)) <= _DICT:
            # One dumps call for them all: between two objects of an array orjson writes `},{`, and an extra
            # `},{` (in a string or a nested array) would make more pieces than objects. With as many pieces as
            # objects, each piece is one object's text without its braces.
            keys = orjson.dumps(flat)[2:-2].split(b"},{")
            if len(keys) == len(flat):
                return keys
        return list(map(orjson.dumps, flat))

    def clear(self) -> None:
        self._cache.clear()
        self._skip = 0


@dataclass(frozen=True, slots=True)
class _Later:
    """What `_Builder.build` leaves for once the messages exist."""

    fragments: list[bytes] | None  # per message, its attributes (b"" for none)
    items: list[tuple[str, _Builder, _Later]]  # repeated fields of built messages, all lists flattened
    parts: list[tuple[str, _Builder, list[int], _Later]]  # a sub-message field, the indexes of those that have it


class _Builder:
    """Builds messages of one type that holds attributes (at any depth) from a list of their JSON objects."""

    def __init__(self, descriptor: Descriptor) -> None:
        self.keywords: list[tuple[str, str, Any, ColumnConvert | None]] = []  # json name, name, absent, convert
        self.fragments: tuple[str, _Fragments] | None = None
        self.items: list[tuple[str, str, _Builder]] = []
        self.parts: list[tuple[str, str, _Builder]] = []
        self._generic = message_converter(descriptor)
        # lowerCamelCase names are the usual ones; an item using any other name goes the generic way.
        self._other_names = frozenset(f.name for f in descriptor.fields if f.name != f.json_name)
        self._oneofs = [tuple(f.json_name for f in oneof.fields) for oneof in descriptor.oneofs
                        if len(oneof.fields) > 1]
        self._guards_exemplars = "exemplars" in descriptor.fields_by_name

    def build(self, objs: list[Any]) -> tuple[list[dict[str, Any]], _Later | None]:
        """The constructor keywords of each object, and what to add once the messages exist (None if nothing)."""
        if not self._usual(objs):
            return list(map(self._generic, objs)), None
        names: list[str] = []
        columns: list[list[Any]] = []
        for json_name, name, absent, convert in self.keywords:
            column = list(map(_get, objs, repeat(json_name), repeat(absent)))
            if column.count(absent) != len(column):
                names.append(name)
                columns.append(column if convert is None else convert(column))
        items = []
        for json_name, name, child in self.items:
            lists = _arrays(list(map(_get, objs, repeat(json_name))))
            flat = list(chain.from_iterable(lists))
            if flat:
                flat_keywords, later = child.build(flat)
                names.append(name)
                columns.append(_regroup(flat_keywords, lists))
                if later is not None:
                    items.append((name, child, later))
        parts = []
        for json_name, name, child in self.parts:
            column = list(map(_get, objs, repeat(json_name)))
            present = [i for i, value in enumerate(column) if value is not None]
            if present:
                part_keywords, later = child.build([column[i] for i in present])
                for i, keywords in zip(present, part_keywords, strict=True):
                    column[i] = keywords
                names.append(name)
                columns.append(column)
                if later is not None:
                    parts.append((name, child, present, later))
        fragments = None
        if self.fragments is not None:
            json_name, attributes = self.fragments
            as_keywords, fragments = attributes.column(list(map(_get, objs, repeat(json_name))))
            if as_keywords is not None:
                names.append(attributes.name)
                columns.append(as_keywords)
        rows = zip(*columns, strict=True) if columns else repeat((), len(objs))  # zip() of nothing has no rows
        built = list(map(dict, map(zip, repeat(names), rows)))
        if self._guards_exemplars and "exemplars" in names:
            for keywords in built:
                guard_exemplars(keywords)
        if fragments is None and not items and not parts:
            return built, None
        return built, _Later(fragments, items, parts)

    def _usual(self, objs: list[Any]) -> bool:
        """Whether `objs` can be converted column by column: objects, lowerCamelCase names, one member per oneof."""
        if not set(map(type, objs)) <= _DICT or not all(map(self._other_names.isdisjoint, objs)):
            return False
        for members in self._oneofs:
            given = map(sum, zip(*(map(operator.contains, objs, repeat(member)) for member in members), strict=True))
            if max(given, default=0) > 1:
                return False
        return True

    def finish(self, messages: list[Any], later: _Later) -> None:
        """Add to `messages`, built from `build`'s keywords, what `build` left for later."""
        if later.fragments is not None:
            for message, fragments in zip(messages, later.fragments, strict=True):
                if fragments:
                    message.MergeFromString(fragments)
        for name, child, child_later in later.items:
            child.finish(list(chain.from_iterable(map(operator.attrgetter(name), messages))), child_later)
        for name, child, present, child_later in later.parts:
            child.finish([getattr(messages[i], name) for i in present], child_later)


def request_builder(descriptor: Descriptor) -> Callable[[Any], Message]:
    """The function from a parsed OTLP/JSON document to the request message of `descriptor`.

    It raises ShapeError, ValueError or TypeError as jsonmap's converters and the
    message constructors do. Build it once, before any request is decoded (see
    jsonmap.message_converter).
    """
    top = _builder(descriptor, {})
    if top is None:
        raise ValueError(f"{descriptor.full_name} holds no attributes")
    cls = GetMessageClass(descriptor)

    def build(document: Any) -> Message:
        keywords, later = top.build([document])
        message: Message = cls(**keywords[0])
        if later is not None:
            top.finish([message], later)
        return message

    return build


def _arrays(column: list[Any]) -> list[Any]:
    """The column of an array field with () for absent; ShapeError if a value is not an array."""
    if not set(map(type, column)) <= _LIST_OR_NONE:
        raise ShapeError
    return [() if values is None else values for values in column] if None in column else column


def _regroup(flat: list[Any], lists: list[Any]) -> list[Any]:
    """`flat`, as long as `lists` laid end to end, cut back into one list per entry of `lists`."""
    ends = list(accumulate(map(len, lists)))
    return list(map(flat.__getitem__, map(slice, chain((0,), ends), ends)))


_ALL_FRAGMENTS: list[_Fragments] = []


def clear_fragments() -> None:
    """Forget every cached fragment (benchmarks use it to measure attribute values never seen before)."""
    for fragments in _ALL_FRAGMENTS:
        fragments.clear()


def _builder(descriptor: Descriptor, built: dict[str, _Builder | None]) -> _Builder | None:
    """The builder of `descriptor`'s messages, or None when they hold no attributes at any depth."""
    name = descriptor.full_name
    if name in built:
        return built[name]
    built[name] = None  # while being examined: recursive types do not count as holding attributes
    builder = _Builder(descriptor)
    for field in descriptor.fields:
        sub = field.message_type
        if sub is not None and sub.full_name == _KEY_VALUE and field.name == "attributes":
            fragments = _Fragments(descriptor, field)
            _ALL_FRAGMENTS.append(fragments)
            builder.fragments = (field.json_name, fragments)
        elif sub is not None and (child := _builder(sub, built)) is not None:
            (builder.items if is_repeated(field) else builder.parts).append((field.json_name, field.name, child))
        else:
            builder.keywords.append((field.json_name, field.name, *column_converter(field)))
    holds = builder.fragments is not None or bool(builder.items) or bool(builder.parts)
    built[name] = builder if holds else None
    return built[name]
