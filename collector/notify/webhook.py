"""One webhook attempt: headers, HMAC signature, timeout, and the response read as an Outcome."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import aiohttp

from collector import __version__
from collector.notify.outcome import Delivered, Outcome, Permanent, Retry
from collector.settings import Receiver

USER_AGENT = f"vigil/{__version__}"
# Statuses that mean "not now" rather than "never": request timeout and rate limiting.
RETRYABLE_4XX = frozenset({408, 429})


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """`sha256=HEX` of HMAC-SHA256(secret, f"{timestamp}.{body}")."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date. None when absent or unreadable."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - now).total_seconds(), 0.0)


def headers(
    receiver: Receiver, *, content_type: str, idempotency_key: str, timestamp: int, body: bytes
) -> dict[str, str]:
    out = {"Content-Type": content_type, "User-Agent": USER_AGENT}
    # The receiver's own headers (Authorization, a different Content-Type) may override the defaults,
    # but never the idempotency key or the signature, which receivers rely on.
    out.update(receiver.headers)
    out["Idempotency-Key"] = idempotency_key
    out["X-Vigil-Timestamp"] = str(timestamp)
    if receiver.hmac_secret:
        out["X-Vigil-Signature"] = signature(receiver.hmac_secret, timestamp, body)
    return out


def classify(status: int, response_headers: Mapping[str, str], now: datetime, detail: str) -> Outcome:
    if 200 <= status < 300:
        return Delivered(status)
    reason = f"HTTP {status}" + (f": {detail}" if detail else "")
    if status in RETRYABLE_4XX or status >= 500:
        return Retry(reason, status, retry_after(response_headers.get("Retry-After"), now))
    return Permanent(reason, status)


async def post(
    session: aiohttp.ClientSession,
    receiver: Receiver,
    *,
    body: bytes,
    content_type: str,
    idempotency_key: str,
    now: datetime,
) -> Outcome:
    """Send once. Network errors and timeouts are Retry; the receiver's answer decides the rest."""
    timestamp = int(now.timestamp())
    sent = headers(receiver, content_type=content_type, idempotency_key=idempotency_key, timestamp=timestamp, body=body)
    timeout = aiohttp.ClientTimeout(total=receiver.timeout.total_seconds())
    try:
        async with session.post(
            receiver.url, data=body, headers=sent, timeout=timeout, allow_redirects=False
        ) as response:
            # A short excerpt of the answer helps whoever reads the dead letter.
            detail = (await response.content.read(300)).decode("utf-8", "replace").strip()
            return classify(response.status, response.headers, now, detail)
    except TimeoutError:
        return Retry(f"no answer within {receiver.timeout.total_seconds():g}s")
    except aiohttp.ClientError as exc:
        return Retry(f"{type(exc).__name__}: {exc}")
