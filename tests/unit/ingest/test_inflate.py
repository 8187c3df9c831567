"""Content-Encoding: gzip inflated within the size limit, other encodings refused."""

from __future__ import annotations

import gzip
import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from collector.errors import DecodeError, PayloadTooLargeError, UnsupportedMediaError
from collector.ingest.decode import inflate

BODY = b"".join(f"span {i} of a request body; ".encode() for i in range(2000))


def gzip_bomb(size: int, block: int = 1 << 20) -> bytes:
    """One gzip member inflating to `size` zero bytes, built without ever holding them.

    After a full flush deflate forgets its history, so every 1 MiB block of zeros
    compresses to the same ~1 KiB, which is repeated; the CRC is computed block by block.
    """
    zeros = bytes(block)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    deflate.compress(zeros)
    deflate.flush(zlib.Z_FULL_FLUSH)
    piece = deflate.compress(zeros) + deflate.flush(zlib.Z_FULL_FLUSH)
    end = deflate.flush(zlib.Z_FINISH)
    blocks = size // block
    crc = 0
    for _ in range(blocks):
        crc = zlib.crc32(zeros, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    return header + piece * blocks + end + struct.pack("<II", crc, (blocks * block) & 0xFFFFFFFF)


def test_no_encoding_and_identity_return_the_body() -> None:
    assert inflate(BODY, None, len(BODY)) == BODY
    assert inflate(BODY, "identity", len(BODY)) == BODY
    assert inflate(BODY, " Identity ", len(BODY)) == BODY


def test_a_plain_body_over_the_limit_is_too_large() -> None:
    with pytest.raises(PayloadTooLargeError) as caught:
        inflate(BODY, None, len(BODY) - 1)
    assert caught.value.http_status == 413


@pytest.mark.parametrize("token", ["gzip", "GZIP", " gzip ", "x-gzip", "X-Gzip"])
def test_gzip_is_inflated_whatever_the_spelling(token: str) -> None:
    assert inflate(gzip.compress(BODY), token, len(BODY)) == BODY


def test_gzip_of_exactly_the_limit_is_accepted_and_one_byte_more_is_not() -> None:
    packed = gzip.compress(BODY)
    assert inflate(packed, "gzip", len(BODY)) == BODY
    with pytest.raises(PayloadTooLargeError):
        inflate(packed, "gzip", len(BODY) - 1)


def test_concatenated_gzip_members_are_all_inflated() -> None:
    first, second = BODY[:1000], BODY[1000:]
    assert inflate(gzip.compress(first) + gzip.compress(second), "gzip", len(BODY)) == BODY


def test_members_together_over_the_limit_are_too_large() -> None:
    half = len(BODY) // 2
    with pytest.raises(PayloadTooLargeError):
        inflate(gzip.compress(BODY[:half]) + gzip.compress(BODY[half:]), "gzip", len(BODY) - 1)


def test_nul_padding_after_the_last_member_is_ignored() -> None:
    assert inflate(gzip.compress(BODY) + bytes(100), "gzip", len(BODY)) == BODY


def test_an_empty_gzip_body_is_empty() -> None:
    assert inflate(b"", "gzip", 10) == b""


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(gzip.compress(BODY)[:-4], id="truncated trailer"),
        pytest.param(gzip.compress(BODY)[:50], id="truncated data"),
        pytest.param(b"this is not gzip at all", id="not gzip"),
        pytest.param(gzip.compress(BODY) + b"trailing garbage", id="garbage after a member"),
        pytest.param(gzip.compress(BODY)[:-8] + b"\0\0\0\0" + gzip.compress(BODY)[-4:], id="wrong CRC"),
    ],
)
def test_corrupt_gzip_cannot_be_decoded(body: bytes) -> None:
    with pytest.raises(DecodeError) as caught:
        inflate(body, "gzip", 10 * len(BODY))
    assert caught.value.http_status == 400
    assert "gzip" in caught.value.message


@pytest.mark.parametrize("token", ["deflate", "br", "zstd", "compress", "gzip, br", "snappy"])
def test_other_encodings_are_unsupported(token: str) -> None:
    with pytest.raises(UnsupportedMediaError) as caught:
        inflate(BODY, token, len(BODY))
    assert caught.value.http_status == 415


def test_the_bomb_helper_builds_valid_gzip() -> None:
    assert gzip.decompress(gzip_bomb(3 << 20)) == bytes(3 << 20)


_BOMB_SCRIPT = """
import json, resource, sys
sys.path.insert(0, {tests!r})
from test_inflate import gzip_bomb
from collector.errors import PayloadTooLargeError
from collector.ingest.decode import inflate

bomb = gzip_bomb(1 << 30)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    inflate(bomb, "gzip", {limit})
    outcome = "accepted"
except PayloadTooLargeError:
    outcome = "too large"
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"outcome": outcome, "compressed": len(bomb), "growth_kib": after - before}}))
"""


def test_a_gzip_bomb_is_refused_without_inflating_it() -> None:
    # In a fresh interpreter, so the peak memory it reports belongs to this inflate alone.
    script = _BOMB_SCRIPT.format(tests=str(Path(__file__).parent), limit=8 * 2**20)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    report = json.loads(done.stdout)
    assert report["outcome"] == "too large"
    assert report["compressed"] < 2 * 2**20
    # ru_maxrss is in KiB on Linux. Inflating it all would add 1 GiB; holding up to the limit adds a few MiB.
    assert report["growth_kib"] < 50 * 1024
