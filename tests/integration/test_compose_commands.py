"""Each command docker-compose.yml runs, run directly here: a replica's config, the demo's options, the sink."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import requests
import yaml

from collector.demo.runner import main as demo_main
from tests.integration.daemon import Daemon, free_port

ROOT = Path(__file__).resolve().parents[2]


def test_replica_config_runs(start_daemon: Callable[..., Daemon], tmp_path: Path) -> None:
    cfg = yaml.safe_load((ROOT / "deploy" / "replica-1.yaml").read_text())
    # The same config with this machine's ports, database and paths in place of the containers'.
    cfg.pop("listen")
    cfg.pop("storage")
    cfg["rules"] = [str(ROOT / "rules")]
    cfg["templates"] = str(ROOT / "templates")
    cfg["receivers"][0]["url"] = f"http://127.0.0.1:{free_port()}/hook"
    d = start_daemon(env={"VIGIL_WEBHOOK_SECRET": "s"}, **cfg)
    rules = d.get_json("/api/rules")
    assert rules["lastReload"]["success"] is True and len(rules["groups"]) == 4
    assert d.metric("vigil_rules_last_reload_success") == 1


def test_demo_options_in_compose_parse() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    args = compose["services"]["demo"]["command"][1:]
    # `--help` exits 0 after parsing every option given before it.
    proc = subprocess.run(
        [sys.executable, "-m", "collector", "demo", *args, "--help"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert demo_main is not None


def test_webhook_sink_verifies_signatures_and_lists_deliveries() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "deploy" / "webhook_sink.py"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--secret",
            "s3",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                requests.get(url, timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        body = json.dumps({"status": "firing", "alerts": []}).encode()
        ts = str(int(time.time()))
        sig = "sha256=" + hmac.new(b"s3", ts.encode() + b"." + body, hashlib.sha256).hexdigest()
        ok = requests.post(
            f"{url}/hook",
            data=body,
            timeout=5,
            headers={"X-Vigil-Timestamp": ts, "X-Vigil-Signature": sig, "Idempotency-Key": "k1"},
        )
        assert ok.status_code == 200
        bad = requests.post(
            f"{url}/hook",
            data=body + b" ",
            timeout=5,
            headers={"X-Vigil-Timestamp": ts, "X-Vigil-Signature": sig, "Idempotency-Key": "k2"},
        )
        assert bad.status_code == 401
        assert requests.get(url, timeout=5).json() == [
            {"idempotencyKey": "k1", "payload": {"status": "firing", "alerts": []}}
        ]
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout:
            proc.stdout.close()
