"""Parsing of the human units used in config and rules: durations, byte sizes, percentages."""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_DURATION_FULL = re.compile(r"^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w))+$")
_DURATION_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}

_BYTES = re.compile(r"^(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)?$")
_BYTES_FACTOR = {
    None: 1,
    "B": 1,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "TB": 10**12,
    "KiB": 2**10,
    "MiB": 2**20,
    "GiB": 2**30,
    "TiB": 2**40,
}


def parse_duration(text: str) -> timedelta:
    """`250ms`, `5m`, `1h30m`, `0s` → timedelta. Raises ValueError with a readable message."""
    s = text.strip()
    if not _DURATION_FULL.match(s):
        raise ValueError(f"invalid duration {text!r} (expected e.g. 250ms, 30s, 5m, 1h30m, 7d; units ms s m h d w)")
    seconds = sum(float(n) * _DURATION_SECONDS[u] for n, u in _DURATION_PART.findall(s))
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """The shortest exact text `parse_duration` reads back to `value`."""
    ms = round(value.total_seconds() * 1000)
    if ms == 0:
        return "0s"
    for unit, factor in (("w", 604_800_000), ("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms % factor == 0:
            return f"{ms // factor}{unit}"
    return f"{ms}ms"


def parse_bytes(text: str | int) -> int:
    """`512MiB`, `64MB`, `1024` → number of bytes."""
    if isinstance(text, int):
        if text < 0:
            raise ValueError("size must not be negative")
        return text
    m = _BYTES.match(text.strip())
    if not m:
        raise ValueError(f"invalid size {text!r} (expected e.g. 64MiB, 512MB, 1GiB or a number of bytes)")
    return int(float(m.group(1)) * _BYTES_FACTOR[m.group(2)])


def parse_number(text: str | float | int) -> float:
    """A plain number or a percentage: `0.03`, `3%`, `250ms` (→ milliseconds), `2.5`."""
    if isinstance(text, bool):
        raise ValueError("expected a number, not a boolean")
    if isinstance(text, (int, float)):
        return float(text)
    s = text.strip()
    if s.endswith("%"):
        return float(s[:-1]) / 100.0
    if _DURATION_FULL.match(s):
        return parse_duration(s).total_seconds() * 1000.0
    try:
        return float(s)
    except ValueError:
        raise ValueError(f"invalid number {text!r} (expected e.g. 0.03, 3%, 250ms)") from None


def parse_hostport(text: str) -> tuple[str, int]:
    """`127.0.0.1:4318`, `[::1]:4317`, `:8080` → (host, port)."""
    s = text.strip()
    if s.startswith("["):
        host, sep, port = s[1:].partition("]:")
    else:
        host, sep, port = s.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"invalid address {text!r} (expected host:port, e.g. 127.0.0.1:4318)")
    return host or "0.0.0.0", int(port)
