"""Trace and span IDs: hex text of OTLP/JSON to bytes, and why an ID is invalid.

An OTLP/JSON ID that is not hex of the right length must not fail the whole
request: only its span, log record or data point is rejected. The JSON mapping
therefore stores such an ID as a *marker*, bytes that can never be a valid ID
length and that keep the text the client sent, so that validation can reject
that item alone and say why. (Exemplars take one more step: see metricchecks.py.)
"""

from __future__ import annotations

TRACE_ID_BYTES = 16
SPAN_ID_BYTES = 8
ZERO_TRACE_ID = bytes(TRACE_ID_BYTES)
ZERO_SPAN_ID = bytes(SPAN_ID_BYTES)

# 20 bytes, so a marker is never 0, 8 or 16 bytes long and always fails validation.
_MARKER = b"\x00\xffOTLP/JSON bad ID:\xff"
_MARKER_TEXT_MAX = 64  # keep only the start of what was sent: enough for a message, bounded in size
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def hex_id(text: str, size: int) -> bytes:
    """`size` bytes from `2 * size` hex digits in any letter case; b"" from ""; else a marker."""
    if len(text) == 2 * size:
        try:
            value = bytes.fromhex(text)
        except ValueError:
            return _marker(text)
        # fromhex skips whitespace between bytes, so the length tells a clean ID from one with spaces.
        if len(value) == size:
            return value
        return _marker(text)
    if not text:
        return b""
    return _marker(text)


def is_marker(value: bytes) -> bool:
    """Whether `value` stands for an OTLP/JSON ID that was not hex of the right length."""
    return value.startswith(_MARKER)


def _marker(text: str) -> bytes:
    return _MARKER + text[:_MARKER_TEXT_MAX].encode("utf-8", "replace")


def id_problem(name: str, value: bytes, size: int, *, optional: bool) -> str | None:
    """Why `value` is not a valid ID of `size` bytes (named `name` in messages), or None if it is.

    An optional ID may be empty. An all-zero ID is reported only for required IDs:
    callers clear all-zero optional IDs, which mean "none".
    """
    if value.startswith(_MARKER):
        sent = value[len(_MARKER):].decode("utf-8", "replace")
        if sent and all(c in _HEX_DIGITS for c in sent):
            return f"{name} must be {2 * size} hex digits, got {len(sent)}"
        return f"{name} must be {2 * size} hex digits; OTLP/JSON encodes IDs as hex, not base64 (got {sent!r})"
    if not value:
        return None if optional else f"{name} is missing"
    if len(value) != size:
        return f"{name} is {len(value)} bytes long, must be {size}"
    if not optional and value == bytes(size):
        return f"{name} is all zeros"
    return None
