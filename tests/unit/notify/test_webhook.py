"""Webhook pieces that need no socket: signature, Retry-After, status classification, headers, backoff."""

from __future__ import annotations

import hashlib
import hmac
import random
from datetime import UTC, datetime, timedelta

from collector.notify.outcome import Backoff, Delivered, Permanent, Retry
from collector.notify.webhook import classify, headers, retry_after, signature
from collector.settings import Receiver

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    body = b'{"status":"firing"}'
    expected = hmac.new(b"secret", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert signature("secret", 1700000000, body) == f"sha256={expected}"
    assert signature("secret", 1700000000, body + b" ") != f"sha256={expected}"


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert retry_after("120", NOW) == 120.0
    assert retry_after("Sun, 22 Nov 2026 10:00:30 GMT", NOW) == 30.0
    assert retry_after("Sun, 22 Nov 2026 09:00:00 GMT", NOW) == 0.0
    assert retry_after("soon", NOW) is None
    assert retry_after(None, NOW) is None


def test_statuses_map_to_outcomes() -> None:
    assert classify(204, {}, NOW, "") == Delivered(204)
    assert classify(400, {}, NOW, "bad") == Permanent("HTTP 400: bad", 400)
    assert classify(404, {}, NOW, "") == Permanent("HTTP 404", 404)
    assert classify(408, {}, NOW, "") == Retry("HTTP 408", 408, None)
    assert classify(429, {"Retry-After": "7"}, NOW, "") == Retry("HTTP 429", 429, 7.0)
    assert classify(503, {}, NOW, "") == Retry("HTTP 503", 503, None)
    assert isinstance(classify(302, {}, NOW, ""), Permanent)


def test_headers_carry_key_timestamp_signature_and_receiver_headers_that_cannot_override_them() -> None:
    receiver = Receiver(
        name="r",
        url="http://127.0.0.1:9/hook",
        hmac_secret="s",
        headers={"Authorization": "Bearer x", "Idempotency-Key": "forged", "Content-Type": "application/json; v=2"},
    )
    got = headers(receiver, content_type="application/json", idempotency_key="k1", timestamp=1700000000, body=b"{}")
    assert got["Authorization"] == "Bearer x"
    assert got["Content-Type"] == "application/json; v=2"
    assert got["Idempotency-Key"] == "k1"
    assert got["X-Vigil-Timestamp"] == "1700000000"
    assert got["X-Vigil-Signature"] == signature("s", 1700000000, b"{}")
    unsigned = Receiver(name="u", url="http://127.0.0.1:9/hook")
    assert "X-Vigil-Signature" not in headers(
        unsigned, content_type="application/json", idempotency_key="k", timestamp=1, body=b"{}"
    )


def test_backoff_is_exponential_with_full_jitter_and_honours_retry_after() -> None:
    backoff = Backoff(base=1.0, cap=60.0, rng=random.Random(7))
    for attempt in range(1, 12):
        ceiling = min(60.0, 2.0 ** (attempt - 1))
        delays = [backoff.delay(attempt) for _ in range(200)]
        assert all(0.0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling / 2  # spread over the whole range, not clustered at the top
    assert backoff.after(Retry("HTTP 429", 429, 42.0), 1) == 42.0
    assert timedelta(seconds=backoff.after(Retry("timeout"), 3)) <= timedelta(seconds=4)
