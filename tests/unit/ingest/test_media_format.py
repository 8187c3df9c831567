"""Content-Type → wire format, as the OTLP/HTTP receiver reads it."""

from __future__ import annotations

import pytest

from collector.errors import UnsupportedMediaError
from collector.ingest.decode import WireFormat, media_format


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("application/x-protobuf", WireFormat.PROTOBUF),
        ("application/protobuf", WireFormat.PROTOBUF),
        ("Application/X-Protobuf", WireFormat.PROTOBUF),
        ("application/json", WireFormat.JSON),
        ("application/json; charset=utf-8", WireFormat.JSON),
        ("  APPLICATION/JSON ;charset=UTF-8", WireFormat.JSON),
        ("application/x-protobuf; proto=opentelemetry.proto.collector.trace.v1", WireFormat.PROTOBUF),
    ],
)
def test_known_media_types_name_their_format(content_type: str, expected: WireFormat) -> None:
    assert media_format(content_type) is expected


@pytest.mark.parametrize(
    "content_type", [None, "", "text/plain", "application/xml", "application/grpc", "application/jsonl", "json"]
)
def test_other_media_types_are_unsupported(content_type: str | None) -> None:
    with pytest.raises(UnsupportedMediaError) as caught:
        media_format(content_type)
    assert caught.value.http_status == 415
    assert "application/x-protobuf or application/json" in caught.value.message
