"""Content-Encoding of OTLP request bodies: gzip inflated incrementally, never past the size limit."""

from __future__ import annotations

import zlib

from collector.errors import DecodeError, PayloadTooLargeError, UnsupportedMediaError

_GZIP = frozenset({"gzip", "x-gzip"})
_IDENTITY = frozenset({"identity", ""})
_GZIP_WBITS = 16 + zlib.MAX_WBITS  # gzip header and trailer (CRC32, size) checked by zlib itself
# Compressed input is fed in pieces this big. Deflate inflates at most ~1032:1, so one call yields at most
# ~8 MiB, which zlib gathers and copies once more before returning it; and what it copies back as
# unconsumed input stays small too.
_INPUT_PIECE = 8 * 1024


def inflate(body: bytes, content_encoding: str | None, limit: int) -> bytes:
    """The body with its Content-Encoding undone, at most `limit` bytes long.

    Raises PayloadTooLargeError past `limit`, DecodeError for a corrupt or truncated
    gzip stream, UnsupportedMediaError for any encoding other than gzip or identity.
    """
    codings = _codings(content_encoding)
    if not codings:
        if len(body) > limit:
            raise PayloadTooLargeError(f"request body is {len(body)} bytes, over the limit of {limit} bytes")
        return body
    # Only gzip is left in the list (identity needs nothing), so each entry is one more gzip layer.
    for _ in codings:
        body = _gunzip(body, limit)
    return body


def _codings(header: str | None) -> list[str]:
    if header is None:
        return []
    codings: list[str] = []
    for token in header.split(","):
        coding = token.strip().lower()
        if coding in _IDENTITY:
            continue
        if coding not in _GZIP:
            raise UnsupportedMediaError(f"unsupported Content-Encoding {token.strip()!r} (supported: gzip, identity)")
        codings.append("gzip")
    return codings


def _gunzip(data: bytes, limit: int) -> bytes:
    """Inflate every gzip member of `data` in turn, never holding more than `limit + 1` inflated bytes."""
    parts: list[bytes] = []
    total = 0
    view = memoryview(data)
    size = len(data)
    pos = 0
    while pos < size:
        inflater = zlib.decompressobj(_GZIP_WBITS)
        while not inflater.eof:
            if pos >= size:
                raise DecodeError("request body is truncated gzip (it ends inside a gzip member)")
            piece = view[pos:pos + _INPUT_PIECE]
            pos += len(piece)
            try:
                # Asking for one byte more than the room left tells "exactly full" from "over".
                chunk = inflater.decompress(piece, limit + 1 - total)
            except zlib.error as exc:
                raise DecodeError(f"request body is not valid gzip: {exc}") from None
            total += len(chunk)
            if total > limit:
                raise PayloadTooLargeError(f"request body inflates to more than the limit of {limit} bytes")
            if chunk:
                parts.append(chunk)
        # The piece that ended this member may hold the start of the next one.
        pos -= len(inflater.unused_data)
        # Some writers pad a gzip file with NUL bytes after its last member; gzip(1) accepts that too.
        if data.count(0, pos) == size - pos:
            break
    if len(parts) == 1:
        return parts[0]
    return b"".join(parts)
