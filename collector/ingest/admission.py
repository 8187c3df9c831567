"""Admission of one decoded export request, shared by the HTTP and gRPC receivers: validate, queue, count."""

from __future__ import annotations

import time

from collector.errors import OverloadedError
from collector.ingest.backpressure import BatchQueue
from collector.ingest.stats import IngestStats
from collector.ingest.validation import Decoded, validate
from collector.model import ExportRequest, Signal


def admit(
    signal: Signal, request: ExportRequest, queue: BatchQueue, stats: IngestStats, body: bytes | None = None
) -> Decoded:
    """Queue the valid items (raises OverloadedError when the queue cannot take them) and count the outcome.

    `body` is the protobuf `request` was parsed from, when there is one.
    """
    decoded = validate(signal, request, body)
    if decoded.accepted:
        try:
            queue.offer(decoded.batch(signal, time.time_ns()))
        except OverloadedError:
            stats.rejected(signal, decoded.accepted, "overloaded")
            raise
    stats.accepted(signal, decoded.accepted)
    stats.rejected(signal, decoded.rejected, "invalid")
    return decoded
