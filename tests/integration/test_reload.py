"""Hot reload: a bad rule set changes nothing, a good one swaps in, unchanged rules keep their state."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable

from tests.integration.daemon import Daemon
from tests.integration.test_alert_lifecycle import Traffic, post, wait_for

KEPT = """
group: reload
interval: 1s
rules:
  - name: CheckoutErrors
    tier: P1
    select: {signal: spans, where: {service.name: checkout}}
    measure: error_ratio
    window: 3s
    condition: {threshold: "> 0.2"}
    for: 1h
    annotations: {summary: "%s"}
"""

OTHER = """
group: extra
rules:
  - name: %s
    tier: P2
    select: {signal: logs}
    window: 1m
    measure: count
    condition: {threshold: "> 1000000"}
"""


def alerts(d: Daemon) -> list[dict[str, object]]:
    return list(d.get_json("/api/alerts")["alerts"])


def test_bad_reload_keeps_old_rules_and_a_kept_rule_keeps_its_pending_timer(
    start_daemon: Callable[..., Daemon],
) -> None:
    d = start_daemon()
    rules = d.workdir / "rules"
    (rules / "kept.yaml").write_text(KEPT % "first wording")
    assert post(d, "/-/reload")[0] == 200
    assert d.metric("vigil_rules_last_reload_success") == 1
    with Traffic(d) as traffic:
        traffic.errors = 10
        pending = wait_for("pending", lambda: [a for a in alerts(d) if a["state"] == "pending"])[0]

        # Bad: a broken file next to the good one. Nothing changes, the metric says so, the API shows why.
        (rules / "broken.yaml").write_text("group: broken\nrules:\n  - name: X\n    tier: P9\n")
        status, body = post(d, "/-/reload")
        assert status == 400
        errors = json.loads(body)["errors"]
        assert any("broken.yaml:4:11: rules[0].tier" in e for e in errors), errors
        assert d.metric("vigil_rules_last_reload_success") == 0
        info = d.get_json("/api/rules")
        assert info["lastReload"]["success"] is False and info["lastReload"]["errors"] == errors
        assert [g["name"] for g in info["groups"]] == ["reload"]

        # Good again, via SIGHUP: a new rule appears, the reworded rule keeps its pending state and timer.
        (rules / "broken.yaml").unlink()
        (rules / "kept.yaml").write_text(KEPT % "second wording")
        (rules / "extra.yaml").write_text(OTHER % "LogFlood")
        assert d.proc is not None
        os.kill(d.proc.pid, signal.SIGHUP)
        wait_for("the SIGHUP reload", lambda: d.metric("vigil_rules_last_reload_success") == 1)
        wait_for("the new group", lambda: len(d.get_json("/api/rules")["groups"]) == 2)
        time.sleep(1.5)
        now = [a for a in alerts(d) if a["rule"] == "CheckoutErrors"]
        assert [(a["state"], a["activeSince"]) for a in now] == [("pending", pending["activeSince"])]

        # A changed definition starts over.
        (rules / "kept.yaml").write_text((KEPT % "x").replace("> 0.2", "> 0.1"))
        assert post(d, "/-/reload")[0] == 200
        restarted = wait_for("a new pending", lambda: [a for a in alerts(d) if a["rule"] == "CheckoutErrors"])
        assert restarted[0]["activeSince"] != pending["activeSince"]
    assert d.metric("vigil_rules_reloads_total", result="failure") == 1


def test_file_watch_reloads_after_files_settle(start_daemon: Callable[..., Daemon]) -> None:
    d = start_daemon(reload={"watch": True, "poll_interval": "200ms"})
    rules = d.workdir / "rules"
    # A half-written file first: it fails validation, and the old (empty) set keeps running.
    (rules / "extra.yaml").write_text("group: extra\nrules:\n  - name: LogFlood\n    tier: P2\n")
    wait_for("a failed reload", lambda: d.metric("vigil_rules_last_reload_success") == 0, timeout=15)
    (rules / "extra.yaml").write_text(OTHER % "LogFlood")
    wait_for(
        "the watched reload", lambda: [g["name"] for g in d.get_json("/api/rules")["groups"]] == ["extra"], timeout=15
    )
    assert d.metric("vigil_rules_last_reload_success") == 1
