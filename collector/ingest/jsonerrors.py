"""Where an OTLP/JSON document went wrong, found by a second, slow walk once the fast conversion failed."""

from __future__ import annotations

from typing import Any

import orjson
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message_factory import GetMessageClass

from collector.ingest.jsonmap import FLOAT_TYPES, INT32_TYPES, INT64_TYPES, is_repeated, value_converter


def locate(descriptor: Descriptor, document: Any) -> str | None:
    """`path: what is wrong` for the first value of `document` that `descriptor`'s message cannot take."""
    try:
        return _diagnose(descriptor, document, "")
    except RecursionError:
        return "values are nested too deeply"


def _diagnose(descriptor: Descriptor, obj: Any, path: str) -> str | None:
    if type(obj) is not dict:
        return f"{path or 'the document'}: expected an object, got {json_kind(obj)}"
    for key, value in obj.items():
        field = descriptor.fields_by_camelcase_name.get(key) or descriptor.fields_by_name.get(key)
        if field is None or value is None:
            continue
        where = f"{path}.{field.json_name}" if path else field.json_name
        if is_repeated(field):
            if type(value) is not list:
                return f"{where}: expected an array, got {json_kind(value)}"
            for i, item in enumerate(value):
                problem = _diagnose_value(field, item, f"{where}[{i}]")
                if problem:
                    return problem
        else:
            problem = _diagnose_value(field, value, where)
            if problem:
                return problem
    return None


def _diagnose_value(field: FieldDescriptor, value: Any, where: str) -> str | None:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return _diagnose(field.message_type, value, where)
    expected = _EXPECTED.get(field.type, ("a string", (str,)))
    if type(value) not in expected[1]:
        return f"{where}: expected {expected[0]}, got {json_kind(value)} {_short(value)}"
    convert = value_converter(field)
    try:
        converted = value if convert is None else convert(value)
        # Let the protobuf runtime judge the converted value exactly as the fast path's constructor did.
        probe = GetMessageClass(field.containing_type)()
        if is_repeated(field):
            getattr(probe, field.name).append(converted)
        else:
            setattr(probe, field.name, converted)
    except (TypeError, ValueError, OverflowError) as exc:
        detail = f" ({exc})" if str(exc) else ""
        return f"{where}: invalid value {_short(value)}{detail}"
    return None


_INTEGER = ("an integer (a number or a string of digits)", (int, str, float))
_EXPECTED: dict[int, tuple[str, tuple[type, ...]]] = {
    **{t: _INTEGER for t in INT64_TYPES | INT32_TYPES},
    **{t: ("a number", (int, float, str)) for t in FLOAT_TYPES},
    FieldDescriptor.TYPE_ENUM: ("an enum number", (int, str)),
    FieldDescriptor.TYPE_BOOL: ("true or false", (bool,)),
    FieldDescriptor.TYPE_BYTES: ("a string", (str,)),
}


def json_kind(value: Any) -> str:
    """`an object`, `a string`, … as a message names a JSON value's type."""
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "a number",
            float: "a number"}.get(type(value), "null")


def _short(value: Any) -> str:
    text = orjson.dumps(value).decode()
    return text if len(text) <= 40 else text[:37] + "..."
