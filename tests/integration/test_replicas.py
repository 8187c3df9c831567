"""Two `vigil run` replicas on one PostgreSQL, each receiving part of the services, as behind the Collector."""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import postgres_database
from tests.integration.daemon import Daemon, free_port, make_config
from tests.integration.sdk import exporters, make_telemetry
from tests.integration.test_alert_lifecycle import incidents, wait_for
from tests.integration.test_webhooks import SECRET, Sink, alerts_of

pytestmark = pytest.mark.postgres

RULES = """
group: replicas
interval: 1s
rules:
  - name: ServiceErrors
    tier: P0
    select: {signal: spans}
    measure: error_ratio
    by: [service.name]
    window: 3s
    condition: {threshold: "> 0.2"}
    for: 1s
    keep_firing_for: 2s
"""


class ServiceTraffic:
    """One service's spans to one replica (the Collector routes by service); errors switchable."""

    def __init__(self, daemon: Daemon, service: str) -> None:
        self.daemon, self.service, self.errors = daemon, service, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        spans, _, _ = exporters("http/protobuf", self.daemon, timeout=1.0)
        try:
            while not self._stop.is_set():
                data = make_telemetry(self.service, requests=20, errors=self.errors)
                spans.export(data.spans)  # a killed replica just fails these exports
                time.sleep(0.25)
        finally:
            spans.shutdown()

    def __enter__(self) -> ServiceTraffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with postgres_database() as url:
        yield url


@pytest.fixture
def sink() -> Iterator[Sink]:
    s = Sink(free_port())
    s.start()
    yield s
    s.stop()


def replica(tmp_path: Path, name: str, url: str, sink: Sink) -> Daemon:
    workdir = tmp_path / name
    workdir.mkdir()
    cfg = make_config(
        workdir,
        storage={"url": url},
        cluster={"instance_id": name},
        receivers=[
            {"name": "oncall", "url": f"http://127.0.0.1:{sink.port}/hook", "hmac_secret": SECRET, "timeout": "2s"}
        ],
    )
    (workdir / "rules" / "replicas.yaml").write_text(RULES)
    d = Daemon(workdir, cfg)
    d.start()
    return d


def test_each_incident_fires_and_resolves_once_and_a_killed_replicas_outbox_is_delivered(
    tmp_path: Path, postgres_url: str, sink: Sink
) -> None:
    a = replica(tmp_path, "replica-a", postgres_url, sink)
    b = replica(tmp_path, "replica-b", postgres_url, sink)
    try:
        with ServiceTraffic(a, "checkout") as checkout, ServiceTraffic(b, "payments") as payments:
            checkout.errors = payments.errors = 10
            wait_for("both firings", lambda: len(alerts_of(sink.received())) >= 2)
            checkout.errors = payments.errors = 0
            wait_for("both resolved", lambda: len(alerts_of(sink.received())) >= 4)
            time.sleep(2)
            seen = alerts_of(sink.received())
            assert Counter(status for status, _ in seen) == {"firing": 2, "resolved": 2}
            by_incident = Counter(incident for _, incident in seen)
            assert set(by_incident.values()) == {2}, "each incident: one firing and one resolved"
            services = {r["payload"]["alerts"][0]["labels"]["service.name"] for r in sink.received()}
            assert services == {"checkout", "payments"}
            assert len(incidents(a)) == len(incidents(b)) == 2, "both replicas see every incident"

            # Replica A fires while the receiver is down, and is killed before it can deliver.
            sink.stop()
            checkout.errors = 10
            wait_for("a second checkout incident", lambda: len(incidents(b)) == 3)
            time.sleep(1)
            a.stop(signal.SIGKILL)
            sink.start()
            new = wait_for("B to deliver A's notification", lambda: alerts_of(sink.received()), timeout=60)
        assert new and new[0][0] == "firing"
        keys = [r["idempotencyKey"] for r in sink.received()]
        time.sleep(3)
        again = [r["idempotencyKey"] for r in sink.received()]
        assert len(again) == len(set(again)), "a notification was delivered twice"
        assert keys[0] in again
    finally:
        for d in (a, b):
            if d.proc is not None and d.proc.poll() is None:
                d.stop()
