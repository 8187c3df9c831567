"""OTLP/JSON documents (as parsed by orjson) to keyword trees that opentelemetry-proto constructors accept.

The mapping is built once per message type from the proto descriptors, so fields
added to opentelemetry-proto are understood without code here. It differs from
protobuf's own JSON mapping where OTLP says so: trace and span IDs are hex, not
base64 (see ids.py for IDs that are neither). Everything else follows proto3
JSON: lowerCamelCase or original field names, 64-bit integers as numbers or
strings, enums as integers (names are accepted too), unknown fields ignored,
`null` as the default value.

Converting to nested keyword dicts and calling the message constructor once lets
the protobuf C runtime build the whole tree, which measures several times faster
than `json_format.ParseDict` (see bench/decode.py). jsonbuild.py builds requests
faster still, a column of items at a time (see `column_converter`), and falls
back to these converters for anything unusual. The converters keep no paths,
for speed; jsonerrors.py finds where a document went wrong once one has failed.
"""

from __future__ import annotations

import base64
import binascii
import math
import threading
from collections.abc import Callable
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from collector.ingest.ids import SPAN_ID_BYTES, TRACE_ID_BYTES, hex_id, is_marker

Convert = Callable[[Any], Any]
# json key → (proto field name, converter or None when the value passes through as it is)
FieldMap = dict[str, tuple[str, "Convert | None"]]

# In OTLP every bytes field but AnyValue.bytes_value is a trace or span ID.
_ID_BYTES = {"trace_id": TRACE_ID_BYTES, "span_id": SPAN_ID_BYTES, "parent_span_id": SPAN_ID_BYTES}
INT64_TYPES = frozenset({
    FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_FIXED64,
    FieldDescriptor.TYPE_SFIXED64, FieldDescriptor.TYPE_SINT64,
})
INT32_TYPES = frozenset({
    FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_FIXED32,
    FieldDescriptor.TYPE_SFIXED32, FieldDescriptor.TYPE_SINT32,
})
FLOAT_TYPES = frozenset({FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT})
_SPECIAL_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}

# protobuf parsers refuse messages nested more than 100 deep; a span attribute already sits 6 deep and each
# array or key-value list adds 2, so deeper JSON would give messages that cannot be read back once stored.
MAX_VALUE_NESTING = 32
_NESTING = frozenset({"opentelemetry.proto.common.v1.ArrayValue", "opentelemetry.proto.common.v1.KeyValueList"})
# Per thread, because decoding may run on worker threads.
_nesting = threading.local()

_KEY_VALUE = "opentelemetry.proto.common.v1.KeyValue"


class ShapeError(ValueError):
    """A JSON value has the wrong type for its field (the converters do not say where)."""


# --- building the converters ---------------------------------------------------------------

_MAPS: dict[str, FieldMap] = {}


def message_converter(descriptor: Descriptor) -> Callable[[Any], dict[str, Any]]:
    """The converter from a parsed JSON object to the constructor keywords of `descriptor`'s message.

    Build converters once, before any request is decoded: while one is being built its
    field maps are incomplete, and another thread must not use them. The converter
    raises ShapeError, or ValueError for values no field could take; the message
    constructor raises TypeError or ValueError for the rest.
    """
    return _message_converter(descriptor)


def _field_map(descriptor: Descriptor) -> FieldMap:
    fields = _MAPS.get(descriptor.full_name)
    if fields is None:
        fields = {}
        # Registered before filling in, so recursive types (AnyValue → ArrayValue → AnyValue) terminate.
        _MAPS[descriptor.full_name] = fields
        for field in descriptor.fields:
            entry = (field.name, field_converter(field))
            fields[field.json_name] = entry
            fields[field.name] = entry
    return fields


def _message_converter(descriptor: Descriptor) -> Callable[[Any], dict[str, Any]]:
    fields = _field_map(descriptor)
    if descriptor.full_name in _NESTING:
        return _nesting_guard(_plain_message_converter(fields))
    if "exemplars" in descriptor.fields_by_name:
        return _exemplar_guard(_plain_message_converter(fields))
    return _plain_message_converter(fields)


def _plain_message_converter(fields: FieldMap) -> Callable[[Any], dict[str, Any]]:

    def convert(obj: Any) -> dict[str, Any]:
        if type(obj) is not dict:
            raise ShapeError
        out: dict[str, Any] = {}
        for key, value in obj.items():
            entry = fields.get(key)
            if entry is not None and value is not None:
                out[entry[0]] = value if entry[1] is None else entry[1](value)
        return out

    return convert


def _nesting_guard(convert: Callable[[Any], dict[str, Any]]) -> Callable[[Any], dict[str, Any]]:
    def guarded(obj: Any) -> dict[str, Any]:
        depth: int = getattr(_nesting, "depth", 0)
        if depth >= MAX_VALUE_NESTING:
            raise ValueError(f"attribute values nest arrays or key-value lists more than {MAX_VALUE_NESTING} deep")
        _nesting.depth = depth + 1
        try:
            return convert(obj)
        finally:
            _nesting.depth = depth

    return guarded


def _exemplar_guard(convert: Callable[[Any], dict[str, Any]]) -> Callable[[Any], dict[str, Any]]:
    def convert_point(obj: Any) -> dict[str, Any]:
        point = convert(obj)
        guard_exemplars(point)
        return point

    return convert_point


def guard_exemplars(point: dict[str, Any]) -> None:
    """Make the converted data point `point` invalid if one of its exemplars has an ID that is not hex."""
    exemplars = point.get("exemplars")
    if exemplars and any(is_marker(e.get("trace_id", b"")) or is_marker(e.get("span_id", b"")) for e in exemplars):
        # Validation does not read exemplars (too costly per point); a zero time makes it reject this point
        # and look for the ID to name (see metricchecks.check_metrics).
        point["time_unix_nano"] = 0


def field_converter(field: FieldDescriptor) -> Convert | None:
    """The converter of a field's JSON value, repeated or not; None when the value passes as it is."""
    one = value_converter(field)
    if not is_repeated(field):
        return one
    if one is None:
        return _plain_list
    if field.message_type is not None and field.message_type.full_name == _KEY_VALUE:
        return _key_value_list(one)
    element = one

    def convert_list(values: Any) -> list[Any]:
        if type(values) is not list:
            raise ShapeError
        return [element(v) for v in values]

    return convert_list


def _key_value_list(element: Convert) -> Convert:
    """Attribute lists hold most of a request; their usual shape is converted inline, the rest by `element`."""

    def convert_attributes(values: Any) -> list[Any]:
        if type(values) is not list:
            raise ShapeError
        out: list[Any] = []
        append = out.append
        for kv in values:
            # The usual shape, {"key": "k", "value": {"stringValue": "v"}}: "key" and "value" are already the
            # proto names, so the parsed dict is reused and only its scalar value is renamed.
            if type(kv) is dict and len(kv) == 2 and "key" in kv:
                value = kv.get("value")
                if type(value) is dict and len(value) == 1:
                    item = value.get("stringValue")
                    if type(item) is str:
                        kv["value"] = {"string_value": item}
                        append(kv)
                        continue
                    for name in value:
                        item = value[name]
                    fast = _SCALAR_VALUES.get((name, type(item)))
                    if fast is not None:
                        field, convert = fast
                        kv["value"] = {field: item if convert is None else convert(item)}
                        append(kv)
                        continue
            append(element(kv))
        return out

    return convert_attributes


def value_converter(field: FieldDescriptor) -> Convert | None:
    kind = field.type
    if kind == FieldDescriptor.TYPE_MESSAGE:
        return _message_converter(field.message_type)
    if kind in INT64_TYPES or kind in INT32_TYPES:
        return _integer
    if kind == FieldDescriptor.TYPE_ENUM:
        return _enum
    if kind in FLOAT_TYPES:
        return _float
    if kind == FieldDescriptor.TYPE_BYTES:
        size = _ID_BYTES.get(field.name)
        return _base64 if size is None else _id_converter(size)
    return None  # string and bool: the constructor checks their type


def is_repeated(field: FieldDescriptor) -> bool:
    repeated = getattr(field, "is_repeated", None)
    if repeated is None:  # protobuf before 5.29
        return bool(field.label == FieldDescriptor.LABEL_REPEATED)
    return bool(repeated)


# --- value converters ----------------------------------------------------------------------

def _plain_list(values: Any) -> Any:
    if type(values) is not list:
        raise ShapeError
    return values


def _integer(value: Any) -> int:
    if type(value) is int:
        return value
    if type(value) is str:
        return int(value)
    if type(value) is float and value.is_integer():
        return int(value)
    raise ShapeError("not a whole number")


def _enum(value: Any) -> int | str:
    # The constructor resolves names and range-checks numbers; strings of digits are numbers here.
    if type(value) is int:
        return value
    if type(value) is str:
        return int(value) if value.lstrip("-").isdigit() else value
    raise ShapeError


def _float(value: Any) -> float | int:
    if type(value) is float or type(value) is int:
        return value
    if type(value) is str:
        special = _SPECIAL_FLOATS.get(value)
        return float(value) if special is None else special
    raise ShapeError


def _base64(value: Any) -> bytes:
    if type(value) is not str:
        raise ShapeError
    # proto3 JSON accepts standard and URL-safe alphabets, with or without padding.
    text = value.replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except binascii.Error as exc:
        raise ValueError(f"bytesValue is not base64: {exc}") from None


def _id_converter(size: int) -> Convert:
    def convert_id(value: Any) -> bytes:
        if type(value) is not str:
            raise ShapeError
        return hex_id(value, size)

    return convert_id


# (AnyValue JSON key, JSON type) → (field, converter) for the scalar values attribute lists are made of.
_SCALAR_VALUES: dict[tuple[str, type], tuple[str, Convert | None]] = {
    (key, kind): (field, convert)
    for field, camel, kinds in (
        ("string_value", "stringValue", ((str, None),)),
        ("bool_value", "boolValue", ((bool, None),)),
        ("int_value", "intValue", ((int, None), (str, _integer))),
        ("double_value", "doubleValue", ((float, None), (int, None), (str, _float))),
    )
    for key in (field, camel)
    for kind, convert in kinds
}


# --- column converters ---------------------------------------------------------------------
# jsonbuild.py converts one field of many items at once: the column of its JSON values (None where an item
# lacks it) becomes the column of constructor values. When every value has the usual type the column is
# converted in C-level passes; otherwise value by value, by the converters above, with the same results.

ColumnConvert = Callable[[list[Any]], list[Any]]
_NONE = type(None)
_INT_OR_NONE = frozenset({int, _NONE})
_INT_OR_STR = frozenset({int, str})
_NUMBER_OR_NONE = frozenset({int, float, _NONE})
_STR = frozenset({str})


def column_converter(field: FieldDescriptor) -> tuple[Any, ColumnConvert | None]:
    """What stands for an absent `field` in its column, and the column's converter (None: the values pass as they are).

    Absent is None (the constructor skips None), except for IDs: the empty string,
    which decodes to the default, empty bytes, and keeps the column all strings.
    """
    convert = field_converter(field)
    if convert is None:
        return None, None
    kind = field.type
    if is_repeated(field) or kind == FieldDescriptor.TYPE_MESSAGE:
        return None, _each(convert, list if is_repeated(field) else dict)
    if kind in INT64_TYPES or kind in INT32_TYPES:
        return None, _integers
    if kind == FieldDescriptor.TYPE_ENUM:
        return None, _enums
    if kind in FLOAT_TYPES:
        return None, _floats
    size = _ID_BYTES.get(field.name)
    if kind == FieldDescriptor.TYPE_BYTES and size is not None:
        return "", _ids(size, convert)
    return None, _each(convert, None)


def _each(convert: Convert, empty: type | None) -> ColumnConvert:
    """Value by value; `empty` is the type (dict or list) of empty values that convert to themselves."""

    def convert_column(column: list[Any]) -> list[Any]:
        if empty is None:
            return [None if value is None else convert(value) for value in column]
        # Saves a call per item for the usual `"status": {}` on most spans.
        if not any(column) and set(map(type, column)) <= {empty, _NONE}:
            return column
        return [value if value is None or (not value and type(value) is empty) else convert(value) for value in column]

    return convert_column


def _integers(column: list[Any]) -> list[Any]:
    kinds = set(map(type, column))
    if kinds <= _INT_OR_NONE:
        return column
    if kinds <= _INT_OR_STR:
        return list(map(int, column))
    return [None if value is None else _integer(value) for value in column]


def _enums(column: list[Any]) -> list[Any]:
    if set(map(type, column)) <= _INT_OR_NONE:
        return column
    return [None if value is None else _enum(value) for value in column]


def _floats(column: list[Any]) -> list[Any]:
    if set(map(type, column)) <= _NUMBER_OR_NONE:
        return column
    return [None if value is None else _float(value) for value in column]


def _ids(size: int, convert: Convert) -> ColumnConvert:
    lengths, hex_lengths = frozenset({0, size}), frozenset({0, 2 * size})

    def convert_column(column: list[Any]) -> list[Any]:
        if set(map(type, column)) <= _STR and set(map(len, column)) <= hex_lengths:
            try:
                ids = list(map(bytes.fromhex, column))
            except ValueError:
                pass
            else:
                # fromhex skips whitespace: a length it shortened is left to hex_id, which marks the ID.
                if set(map(len, ids)) <= lengths:
                    return ids
        return [None if value is None else convert(value) for value in column]

    return convert_column
