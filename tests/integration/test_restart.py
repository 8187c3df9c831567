"""Restarts, clean (SIGTERM) and abrupt (SIGKILL), at each point of the lifecycle lose and repeat nothing."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable

import pytest

from collector.evaluate.state import JITTER
from tests.integration.daemon import Daemon
from tests.integration.test_alert_lifecycle import Traffic, incidents, post, ts, wait_for

RULES = """
group: restart
interval: 1s
rules:
  - name: CheckoutErrors
    tier: P1
    select: {signal: spans, where: {service.name: checkout}}
    measure: error_ratio
    window: 3s
    condition: {threshold: "> 0.2"}
    for: 6s
    keep_firing_for: 6s
"""

# Timers count as done this close to their end (scheduling jitter), so bounds allow for it.
SLACK = JITTER.total_seconds()

SIGNALS = [pytest.param(signal.SIGTERM, id="clean"), pytest.param(signal.SIGKILL, id="kill")]


def started(start_daemon: Callable[..., Daemon]) -> Daemon:
    d = start_daemon()
    (d.workdir / "rules" / "restart.yaml").write_text(RULES)
    assert post(d, "/-/reload")[0] == 200
    return d


def alert(d: Daemon) -> dict[str, object] | None:
    found = d.get_json("/api/alerts")["alerts"]
    return found[0] if found else None


@pytest.mark.parametrize("sig", SIGNALS)
def test_pending_alert_keeps_its_for_clock(start_daemon: Callable[..., Daemon], sig: int) -> None:
    d = started(start_daemon)
    with Traffic(d) as traffic:
        traffic.errors = 10
        pending = wait_for("pending", lambda: (a := alert(d)) and a["state"] == "pending" and a)
        d.restart(sig)
        opened = wait_for("firing", lambda: incidents(d, state="open"), timeout=30)
    inc = opened[0]
    assert inc["startsAt"] == pending["activeSince"], "the restart reset the pending timer"
    waited = (ts(inc["firedAt"]) - ts(inc["startsAt"])).total_seconds()
    assert 6 - SLACK <= waited < 6 + 6


@pytest.mark.parametrize("sig", SIGNALS)
def test_firing_alert_keeps_its_incident(start_daemon: Callable[..., Daemon], sig: int) -> None:
    d = started(start_daemon)
    with Traffic(d) as traffic:
        traffic.errors = 10
        first = wait_for("firing", lambda: incidents(d, state="open"))[0]
        d.restart(sig)
        time.sleep(4)
        assert [i["id"] for i in incidents(d)] == [first["id"]], "a restart opened a second incident"
        traffic.errors = 0
        done = wait_for("resolved", lambda: incidents(d, state="resolved"), timeout=40)
    assert [i["id"] for i in done] == [first["id"]]
    events = d.get_json(f"/api/incidents/{first['id']}")["events"]
    assert [e["kind"] for e in events] == ["firing", "resolved"]


@pytest.mark.parametrize("sig", SIGNALS)
def test_keep_firing_window_continues_across_restart(start_daemon: Callable[..., Daemon], sig: int) -> None:
    d = started(start_daemon)
    with Traffic(d) as traffic:
        traffic.errors = 10
        first = wait_for("firing", lambda: incidents(d, state="open"))[0]
        traffic.errors = 0
        clearing = wait_for("keep-firing", lambda: (a := alert(d)) and a.get("clearSince") and a)
        d.restart(sig)
        done = wait_for("resolved", lambda: incidents(d, state="resolved"), timeout=40)
    assert [i["id"] for i in done] == [first["id"]]
    kept = (ts(done[0]["endsAt"]) - ts(str(clearing["clearSince"]))).total_seconds()
    assert 6 - SLACK <= kept < 6 + 6, f"keep_firing_for restarted or was skipped: resolved {kept:.2f}s after clearing"
    events = d.get_json(f"/api/incidents/{first['id']}")["events"]
    assert [e["kind"] for e in events] == ["firing", "resolved"]
