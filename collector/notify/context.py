"""What a template sees: the context of a group, resolved or digest notification, and samples to check templates.

The context is the documented contract for template authors (docs/notifications.md).
`alertmanager_body` builds the default body in Python: it is what
alertmanager.json.j2 renders, and what is sent if a template fails on a real alert.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from collector.model import iso
from collector.notify.alert import alert_view, common

# The fields of each alert in the Alertmanager v4 body, plus Vigil's (DESIGN §6), in order.
ALERT_FIELDS = (
    "status",
    "labels",
    "annotations",
    "startsAt",
    "endsAt",
    "generatorURL",
    "fingerprint",
    "incidentId",
    "tier",
    "value",
    "threshold",
    "baseline",
    "durationSeconds",
    "resolveReason",
    "exemplars",
)


def receiver_params(url: str) -> dict[str, str]:
    """Query parameters of the receiver URL (e.g. a PagerDuty routing_key), for templates that need them."""
    return dict(parse_qsl(urlsplit(url).query))


def notification_context(
    *,
    kind: str,
    receiver: str,
    receiver_url: str,
    group_key: str,
    group_labels: Mapping[str, str],
    alerts: Sequence[dict[str, Any]],
    total: int,
    external_url: str,
    now: datetime,
    digest: dict[str, Any] | None = None,
) -> dict[str, Any]:
    firing = any(a["status"] == "firing" for a in alerts)
    return {
        "version": "4",
        "kind": kind,
        "status": "firing" if firing else "resolved",
        "receiver": receiver,
        "groupKey": group_key,
        "truncatedAlerts": max(total - len(alerts), 0),
        "totalAlerts": total,
        "groupLabels": dict(group_labels),
        "commonLabels": common([a["labels"] for a in alerts]),
        "commonAnnotations": common([a["annotations"] for a in alerts]),
        "externalURL": external_url,
        "alerts": list(alerts),
        "digest": digest,
        "receiverParams": receiver_params(receiver_url),
        "now": iso(now),
    }


def alertmanager_body(ctx: Mapping[str, Any]) -> dict[str, Any]:
    """The default webhook body (DESIGN §6) for a context; digests add a `digest` object."""
    body: dict[str, Any] = {
        "version": "4",
        "groupKey": ctx["groupKey"],
        "truncatedAlerts": ctx["truncatedAlerts"],
        "status": ctx["status"],
        "receiver": ctx["receiver"],
        "groupLabels": ctx["groupLabels"],
        "commonLabels": ctx["commonLabels"],
        "commonAnnotations": ctx["commonAnnotations"],
        "externalURL": ctx["externalURL"],
        "alerts": [{k: a[k] for k in ALERT_FIELDS} for a in ctx["alerts"]],
    }
    if ctx["kind"] == "digest":
        body["digest"] = ctx["digest"]
    return body


# --- Samples: every template is rendered against these at load time ---------------------------

_SAMPLE_NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
# Quotes, backslashes, newlines, markup and non-ASCII: a template that glues strings into JSON
# instead of using `tojson` fails the load-time check instead of a page at night.
_AWKWARD = 'error ratio "0.071" > 0.03 on /pay\\ment\n<b>checkout</b> & 支付'


def sample_payload(n: int, *, resolved: bool = False) -> dict[str, Any]:
    starts = _SAMPLE_NOW - timedelta(minutes=10 + n)
    ends = _SAMPLE_NOW if resolved else None
    return {
        "id": f"00000000-0000-4000-8000-{n:012d}",
        "kind": "resolved" if resolved else "firing",
        "incidentId": f"10000000-0000-4000-8000-{n:012d}",
        "fingerprint": f"{n:016x}",
        "rule": "CheckoutErrorRatio",
        "group": "checkout",
        "tier": "P0",
        "labels": {"alertname": "CheckoutErrorRatio", "tier": "P0", "service.name": "checkout", "http.route": f"/r{n}"},
        "annotations": {"summary": _AWKWARD, "runbook": "https://example.invalid/runbooks/checkout"},
        "value": 0.071,
        "threshold": "> 0.03",
        "baseline": {"expected": 0.01, "lower": 0.0, "upper": 0.02, "score": 7.5} if n % 2 else None,
        "startsAt": iso(starts),
        "firedAt": iso(starts + timedelta(seconds=30)),
        "at": iso(ends or starts),
        "endsAt": iso(ends) if ends else None,
        "durationSeconds": (ends - starts).total_seconds() if ends else None,
        "resolveReason": "condition_cleared" if resolved else None,
        "exemplars": [{"traceId": "4bf92f3577b34da6a3ce929d0e0e4736", "spanId": "00f067aa0ba902b7"}],
    }


SAMPLE_RECEIVER_URL = "https://example.invalid/hook?routing_key=R0UT1NGKEY"


def sample_context(kind: str, receiver_url: str = SAMPLE_RECEIVER_URL) -> dict[str, Any]:
    """A realistic context of `kind` (firing, resolved or digest) for checking a template."""
    external = "http://127.0.0.1:8080"
    digest = None
    if kind == "firing":
        alerts = [alert_view(sample_payload(i), "firing", external) for i in (1, 2)]
        total = 5
    elif kind == "resolved":
        alerts = [alert_view(sample_payload(1, resolved=True), "resolved", external)]
        total = 1
    else:
        alerts = [
            alert_view(sample_payload(1), "firing", external),
            alert_view(sample_payload(2, resolved=True), "resolved", external),
        ]
        total = 3
        digest = digest_summary(_SAMPLE_NOW - timedelta(days=1), _SAMPLE_NOW, "0 9 * * *", fired=3, open_=1, resolved=2)
    labels = {"alertname": "CheckoutErrorRatio", "service.name": "checkout"}
    return notification_context(
        kind=kind,
        receiver="sample",
        receiver_url=receiver_url,
        group_key='{tier="P0"}:{alertname="CheckoutErrorRatio", service.name="checkout"}',
        group_labels=labels,
        alerts=alerts,
        total=total,
        external_url=external,
        now=_SAMPLE_NOW,
        digest=digest,
    )


def digest_summary(
    start: datetime, end: datetime, schedule: str, *, fired: int, open_: int, resolved: int
) -> dict[str, Any]:
    return {
        "periodStart": iso(start),
        "periodEnd": iso(end),
        "schedule": schedule,
        "fired": fired,
        "open": open_,
        "resolved": resolved,
    }
