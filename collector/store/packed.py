"""Packed parts of a series: sealed bucket records, exemplar rows and head rows, searched in place.

Sealed records are ``<idx u32><length u16><payload>``, ascending by bucket index, in
one ``bytes``; exemplar rows are `EX_ROW` (bucket index first), best first; head rows
are `w` unsigned ints each, bucket index first, ascending, in one ``array("I")``.
"""

from __future__ import annotations

import struct
from array import array

from collector.store.windows import EX_ROW, MAX_EXEMPLARS, ExemplarRow

REC = struct.Struct("<IH")  # a sealed record's bucket index and payload length


def find_record(blob: bytes, idx: int) -> tuple[int, int, int] | None:
    """(record start, payload start, payload end) of bucket `idx` in a sealed blob."""
    off, size = 0, len(blob)
    while off < size:
        i, n = REC.unpack_from(blob, off)
        if i == idx:
            return off, off + REC.size, off + REC.size + n
        if i > idx:
            return None
        off += REC.size + n
    return None


def records(blob: bytes, first: int, stop: int) -> list[tuple[int, int]]:
    """(payload start, end) of every sealed record with ``first <= idx < stop``."""
    out = []
    off, size = 0, len(blob)
    while off < size:
        i, n = REC.unpack_from(blob, off)
        if i >= stop:
            break
        if i >= first:
            out.append((off + REC.size, off + REC.size + n))
        off += REC.size + n
    return out


def insert_record(blob: bytes, idx: int, payload: bytes) -> bytes:
    rec = REC.pack(idx, len(payload)) + payload
    off, size = 0, len(blob)
    while off < size:
        i, n = REC.unpack_from(blob, off)
        if i > idx:
            return blob[:off] + rec + blob[off:]
        off += REC.size + n
    return blob + rec


def drop_records(blob: bytes, expired: int) -> bytes:
    off, size = 0, len(blob)
    while off < size:
        i, n = REC.unpack_from(blob, off)
        if i > expired:
            break
        off += REC.size + n
    return blob[off:] if off else blob


def keep_best(blob: bytes, rows: list[tuple[int, ExemplarRow]], expired: int) -> bytes:
    """The best `MAX_EXEMPLARS` rows (one per trace) of `blob` plus `rows`, without those of expired buckets."""
    found: list[tuple[ExemplarRow, int]] = [
        ((err, dur, t, trace, span), idx)
        for idx, err, dur, t, trace, span in EX_ROW.iter_unpack(blob) if idx > expired
    ]
    found += [(row, idx) for idx, row in rows if idx > expired]
    found.sort(reverse=True)
    out: list[bytes] = []
    traces: set[bytes] = set()
    for (err, dur, t, trace, span), idx in found:
        if trace not in traces:
            traces.add(trace)
            out.append(EX_ROW.pack(idx, err, dur, t, trace, span))
            if len(out) == MAX_EXEMPLARS:
                break
    return b"".join(out)


def exemplar_rows(blob: bytes, first: int, stop: int) -> list[ExemplarRow]:
    """The exemplar rows packed in `blob` from buckets ``[first, stop)``."""
    return [
        (err, dur, t, trace, span)
        for idx, err, dur, t, trace, span in EX_ROW.iter_unpack(blob) if first <= idx < stop
    ]


def head_rows(h: array[int], w: int, first: int, stop: int) -> tuple[int, int]:
    """Offsets ``[a, b)`` of the head rows with ``first <= idx < stop`` (rows are `w` wide)."""
    a, n = 0, len(h)
    while a < n and h[a] < first:
        a += w
    b = n
    while b > a and h[b - w] >= stop:
        b -= w
    return a, b
