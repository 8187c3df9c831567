"""Firing and resolved webhooks from a real daemon to a real signature-checking sink, across a SIGKILL."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.integration.daemon import Daemon, free_port
from tests.integration.test_alert_lifecycle import Traffic, incidents, post, wait_for

ROOT = Path(__file__).resolve().parents[2]
SECRET = "hook-secret"
RULES = """
group: hooks
interval: 1s
rules:
  - name: CheckoutErrors
    tier: P0
    select: {signal: spans, where: {service.name: checkout}}
    measure: error_ratio
    by: [service.name]
    window: 3s
    condition: {threshold: "> 0.2"}
    for: 1s
    keep_firing_for: 2s
"""


class Sink:
    """deploy/webhook_sink.py as a process: it answers 401 to a bad signature, so what it lists was verified."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "deploy" / "webhook_sink.py"),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--secret",
                SECRET,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for("the sink", self._up, timeout=15)

    def _up(self) -> bool:
        try:
            return requests.get(f"http://127.0.0.1:{self.port}/", timeout=1).status_code == 200
        except requests.ConnectionError:
            return False

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)

    def received(self) -> list[dict[str, Any]]:
        return list(requests.get(f"http://127.0.0.1:{self.port}/", timeout=5).json())


@pytest.fixture
def sink() -> Iterator[Sink]:
    s = Sink(free_port())
    s.start()
    yield s
    s.stop()


def alerts_of(received: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(a["status"], a["incidentId"]) for r in received for a in r["payload"]["alerts"]]


def daemon_with_sink(start_daemon: Callable[..., Daemon], sink: Sink) -> Daemon:
    d = start_daemon(
        receivers=[
            {"name": "oncall", "url": f"http://127.0.0.1:{sink.port}/hook", "hmac_secret": SECRET, "timeout": "2s"}
        ]
    )
    (d.workdir / "rules" / "hooks.yaml").write_text(RULES)
    assert post(d, "/-/reload")[0] == 200
    return d


def test_firing_and_resolved_arrive_signed_with_one_incident_id(
    start_daemon: Callable[..., Daemon], sink: Sink
) -> None:
    d = daemon_with_sink(start_daemon, sink)
    with Traffic(d) as traffic:
        traffic.errors = 10
        wait_for("the firing webhook", lambda: alerts_of(sink.received()))
        traffic.errors = 0
        wait_for("the resolved webhook", lambda: len(alerts_of(sink.received())) >= 2)
    received = sink.received()
    [(firing, incident), (resolved, same)] = alerts_of(received)
    assert (firing, resolved) == ("firing", "resolved") and incident == same
    assert [r["payload"]["version"] for r in received] == ["4", "4"]
    assert received[0]["payload"]["alerts"][0]["labels"] == {
        "alertname": "CheckoutErrors",
        "tier": "P0",
        "service.name": "checkout",
    }
    keys = [r["idempotencyKey"] for r in received]
    assert all(keys) and keys[0] != keys[1]
    assert [i["id"] for i in incidents(d)] == [incident]


def test_a_resolved_not_yet_delivered_survives_sigkill(start_daemon: Callable[..., Daemon], sink: Sink) -> None:
    d = daemon_with_sink(start_daemon, sink)
    with Traffic(d) as traffic:
        traffic.errors = 10
        wait_for("the firing webhook", lambda: alerts_of(sink.received()))
        sink.stop()  # the receiver goes down
        traffic.errors = 0
        wait_for("the incident to resolve", lambda: incidents(d, state="resolved"))
        time.sleep(0.5)
        d.stop(signal.SIGKILL)  # with the resolved notification still in the outbox
    sink.start()
    d.start()
    got = wait_for(
        "the resolved webhook after the restart",
        lambda: [a for a in alerts_of(sink.received()) if a[0] == "resolved"],
        timeout=60,
    )
    time.sleep(2)
    assert len(alerts_of(sink.received())) == 1, "only the resolved is left after the sink restarted empty"
    assert got[0][1] == incidents(d)[0]["id"]
