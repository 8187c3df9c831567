"""Mergeable latency sketch: DDSketch-style logarithmic bins with a relative error of at most 2%.

A positive value v falls in bin ``i = ceil(log(v) / log(GAMMA))``, which covers
``(GAMMA**(i-1), GAMMA**i]``; the bin reports ``2 * GAMMA**i / (GAMMA + 1)``, which is
within ``RELATIVE_ACCURACY`` of every value in the bin. Zero and negative values share a
separate zero bin (key ``ZERO``) that reports 0. Bins are plain ``dict[int, float]``
while a bucket is being written (float counts, so histogram buckets can be spread
over several bins), and packed into a dense byte array once the bucket is sealed.

Quantiles use the lower nearest rank: the q-quantile of n values is the value at
0-based rank ``floor(q * (n - 1))`` of the sorted values, so for any q the answer is
within 2% of that exact value.
"""

from __future__ import annotations

import math
import struct
from array import array

RELATIVE_ACCURACY = 0.02
GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
INV_LOG_GAMMA = 1.0 / math.log(GAMMA)
# Key of the zero bin: far below any real bin (1e-300 ms maps to about -17,000).
ZERO = -(2**30)
# Whole-number counts at most this large pack as 1, 2 or 4 bytes per bin.
_TYPECODES = ((0xFF, "B"), (0xFFFF, "H"), (0xFFFFFFFF, "I"))

Bins = dict[int, float]
_SPREAD_PARTS = 8
# How each histogram bucket (low, high) spreads over bins; bucket layouts repeat, so this stays small.
_SHARES: dict[tuple[float, float], tuple[tuple[int, float], ...]] = {}
_SHARES_LIMIT = 10_000
_HEAD = struct.Struct("<dic")
# A packed Dense: whole-number counts, so the zero bin's count fits 4 bytes.
_DENSE = struct.Struct("<Iic")


def bin_of(value: float) -> int:
    """The bin key of one value (the hot loops inline this formula)."""
    if value <= 0.0:
        return ZERO
    return math.ceil(math.log(value) * INV_LOG_GAMMA)


def bin_value(key: int) -> float:
    """The value a bin reports: within RELATIVE_ACCURACY of everything in it."""
    if key == ZERO:
        return 0.0
    return 2.0 * GAMMA**key / (GAMMA + 1.0)


def add_values(bins: Bins, values: list[float]) -> None:
    """Count every value of `values` (milliseconds) into `bins`."""
    log, ceil, inv = math.log, math.ceil, INV_LOG_GAMMA
    get = bins.get
    for v in values:
        k = ceil(log(v) * inv) if v > 0.0 else ZERO
        bins[k] = get(k, 0) + 1


def merge(into: Bins, other: Bins) -> None:
    """Add the counts of `other` to `into`."""
    get = into.get
    for k, c in other.items():
        into[k] = get(k, 0) + c


def spread(bins: Bins, low: float, high: float, count: float) -> None:
    """Add `count` values spread evenly over (low, high] — a histogram bucket, linearly interpolated.

    The bucket is cut into `_SPREAD_PARTS` equal parts, each counted at its middle;
    the histogram's own bucket bounds limit accuracy far more than that does.
    """
    if count <= 0:
        return
    shares = _SHARES.get((low, high))
    if shares is None:
        shares = _shares(low, high)
        if len(_SHARES) >= _SHARES_LIMIT:
            _SHARES.clear()
        _SHARES[(low, high)] = shares
    get = bins.get
    for k, share in shares:
        bins[k] = get(k, 0) + count * share


def _shares(low: float, high: float) -> tuple[tuple[int, float], ...]:
    if high <= low:
        return ((bin_of(high), 1.0),)
    out: dict[int, float] = {}
    step = (high - low) / _SPREAD_PARTS
    for i in range(_SPREAD_PARTS):
        k = bin_of(low + (i + 0.5) * step)
        out[k] = out.get(k, 0.0) + 1.0 / _SPREAD_PARTS
    return tuple(out.items())


def total(bins: Bins) -> float:
    return math.fsum(bins.values())


def quantile(bins: Bins, q: float) -> float | None:
    """The q-quantile (0 <= q <= 1) of the values counted in `bins`; None when empty."""
    n = total(bins)
    if n <= 0:
        return None
    rank = q * (n - 1)
    seen = 0.0
    keys = sorted(bins)
    for k in keys:
        seen += bins[k]
        if seen > rank + 1e-9:
            return bin_value(k)
    return bin_value(keys[-1])


def pack(bins: Bins) -> bytes:
    """A compact form of `bins`: zero count, first bin key, typecode, then a dense array of counts."""
    zero = float(bins.get(ZERO, 0))
    keys = [k for k in bins if k != ZERO]
    if not keys:
        return _HEAD.pack(zero, 0, b"B")
    lo, hi = min(keys), max(keys)
    get = bins.get
    counts = [get(k, 0) for k in range(lo, hi + 1)]
    code = "d"
    if all(float(c).is_integer() for c in counts):
        top = max(counts)
        code = next((c for limit, c in _TYPECODES if top <= limit), "d")
    values = array(code, counts if code == "d" else [int(c) for c in counts])
    return _HEAD.pack(zero, lo, code.encode()) + values.tobytes()


def unpack_into(bins: Bins, blob: bytes, offset: int = 0, end: int | None = None) -> None:
    """Add the counts of a sketch packed at `blob[offset:end]` to `bins`."""
    zero, lo, code = _HEAD.unpack_from(blob, offset)
    if zero:
        bins[ZERO] = bins.get(ZERO, 0) + zero
    values = array(code.decode(), blob[offset + _HEAD.size : end])
    get = bins.get
    k = lo
    for c in values:
        if c:
            bins[k] = get(k, 0) + c
        k += 1


class Dense:
    """Whole-number bin counts in one array from bin `lo` on: the compact form a filling span bucket keeps.

    Counts start at one byte per bin and widen to four when one passes 255.
    """

    __slots__ = ("counts", "lo", "zero")

    def __init__(self) -> None:
        self.lo = 0
        self.counts = array("B")
        self.zero = 0

    def add(self, bins: Bins) -> None:
        """Add the counts of `bins` (whole numbers)."""
        counts, lo = self.counts, self.lo
        size = len(counts)
        for k, c in bins.items():
            i = k - lo
            if not 0 <= i < size:
                if k == ZERO:
                    self.zero += int(c)
                    continue
                self._grow(k)
                counts, lo = self.counts, self.lo
                size = len(counts)
                i = k - lo
            try:
                counts[i] += int(c)
            except OverflowError:
                # A count passed what one byte holds: four bytes from now on (free while nothing overflows).
                counts = self.counts = array("I", counts)
                counts[i] += int(c)

    def _grow(self, k: int) -> None:
        counts = self.counts
        if not counts:
            self.lo = k
            counts.append(0)
        elif k < self.lo:
            counts[0:0] = array(counts.typecode, bytes(counts.itemsize * (self.lo - k)))
            self.lo = k
        else:
            counts.frombytes(bytes(counts.itemsize * (k - self.lo - len(counts) + 1)))

    def add_to(self, bins: Bins) -> None:
        """Add these counts to `bins`."""
        if self.zero:
            bins[ZERO] = bins.get(ZERO, 0) + self.zero
        get = bins.get
        k = self.lo
        for c in self.counts:
            if c:
                bins[k] = get(k, 0) + c
            k += 1

    def pack(self) -> bytes:
        """A compact form: zero count (u32), first bin key, typecode, then the counts at 1, 2 or 4 bytes each."""
        counts = self.counts
        if not counts:
            return _DENSE.pack(self.zero, 0, b"B")
        code: str = counts.typecode
        if code != "B":
            top = max(counts)
            code = next((c for limit, c in _TYPECODES if top <= limit), "I")
        values = counts if code == counts.typecode else array(code, counts)
        return _DENSE.pack(self.zero, self.lo, code.encode()) + values.tobytes()

    @classmethod
    def unpack(cls, blob: bytes, offset: int = 0, end: int | None = None) -> Dense:
        zero, lo, code = _DENSE.unpack_from(blob, offset)
        d = cls()
        d.zero, d.lo = zero, lo
        raw = array(code.decode(), blob[offset + _DENSE.size : end])
        d.counts = raw if raw.typecode in ("B", "I") else array("I", raw)
        return d

    @staticmethod
    def add_packed(bins: Bins, blob: bytes, offset: int = 0, end: int | None = None) -> None:
        """Add the counts of a Dense packed at `blob[offset:end]` to `bins`."""
        zero, lo, code = _DENSE.unpack_from(blob, offset)
        if zero:
            bins[ZERO] = bins.get(ZERO, 0) + zero
        get = bins.get
        k = lo
        for c in array(code.decode(), blob[offset + _DENSE.size : end]):
            if c:
                bins[k] = get(k, 0) + c
            k += 1
