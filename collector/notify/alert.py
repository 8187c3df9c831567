"""The alert as notification sees it: labels to match on and the webhook view (DESIGN §6) of an event."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# Alertmanager's "zero time", which its receivers read as "not ended yet".
ZERO_TIME = "0001-01-01T00:00:00Z"


def alert_labels(payload: Mapping[str, Any]) -> dict[str, str]:
    """The event's labels plus `alertname` (the rule) and `tier`, which routes and silences match on."""
    labels = {str(k): str(v) for k, v in (payload.get("labels") or {}).items()}
    labels.setdefault("alertname", str(payload.get("rule", "")))
    labels.setdefault("tier", str(payload.get("tier", "")))
    return labels


def incident_url(external_url: str, incident_id: str) -> str:
    return f"{external_url}/incidents/{incident_id}"


def alert_view(payload: Mapping[str, Any], status: str, external_url: str) -> dict[str, Any]:
    """One element of `alerts[]` in the webhook body, plus the fields templates may want (`rule`, `firedAt`)."""
    incident_id = str(payload.get("incidentId", ""))
    ends_at = payload.get("endsAt") if status == "resolved" else None
    exemplars = [
        {
            "traceId": str(e.get("traceId", "")),
            "spanId": str(e.get("spanId", "")),
            "url": f"{external_url}/api/traces/{e.get('traceId', '')}",
        }
        for e in payload.get("exemplars") or ()
        if isinstance(e, Mapping)
    ]
    return {
        "status": status,
        "labels": alert_labels(payload),
        "annotations": {str(k): str(v) for k, v in (payload.get("annotations") or {}).items()},
        "startsAt": payload.get("startsAt"),
        "endsAt": ends_at or ZERO_TIME,
        "generatorURL": incident_url(external_url, incident_id),
        "fingerprint": payload.get("fingerprint"),
        "incidentId": incident_id,
        "tier": payload.get("tier"),
        "value": payload.get("value"),
        "threshold": payload.get("threshold"),
        "baseline": payload.get("baseline"),
        "durationSeconds": payload.get("durationSeconds") if status == "resolved" else None,
        "resolveReason": payload.get("resolveReason") if status == "resolved" else None,
        "exemplars": exemplars,
        "rule": payload.get("rule"),
        "firedAt": payload.get("firedAt"),
    }


def common(maps: Sequence[Mapping[str, str]]) -> dict[str, str]:
    """The pairs every mapping shares (Alertmanager's commonLabels / commonAnnotations)."""
    if not maps:
        return {}
    first, rest = maps[0], maps[1:]
    return {k: v for k, v in first.items() if all(m.get(k) == v for m in rest)}
