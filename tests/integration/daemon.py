"""A real `vigil run` process for integration tests: free ports, a temp config, readiness wait, clean stop."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Daemon:
    """One running daemon and the addresses it listens on."""

    workdir: Path
    config: dict[str, Any]
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def api(self) -> str:
        return f"http://{self.config['listen']['api']}"

    @property
    def otlp_http(self) -> str:
        return f"http://{self.config['listen']['otlp_http']}"

    @property
    def otlp_grpc(self) -> str:
        return str(self.config["listen"]["otlp_grpc"])

    @property
    def log_path(self) -> Path:
        return self.workdir / "vigil.log"

    def start(self, timeout: float = 30.0) -> None:
        cfg = self.workdir / "vigil.yaml"
        cfg.write_text(yaml.safe_dump(self.config))
        env = {**os.environ, **self.env}
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "collector", "run", "-c", str(cfg)],
            cwd=self.workdir,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._log.close()
                raise RuntimeError(f"vigil exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(f"{self.api}/readyz", timeout=1) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"vigil not ready after {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"vigil did not stop within {timeout}s:\n{self.log()}") from None
        self._log.close()
        return self.proc.returncode

    def restart(self, sig: int = signal.SIGTERM) -> None:
        """Stop (cleanly with SIGTERM, or abruptly with SIGKILL) and start again on the same data."""
        self.stop(sig)
        self.start()

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(f"{self.api}{path}", timeout=10) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def get_json(self, path: str) -> Any:
        status, body = self.get(path)
        assert status == 200, (status, body)
        return json.loads(body)

    def metric(self, name: str, **labels: str) -> float:
        """Sum of the samples of `name` whose labels include `labels`."""
        status, body = self.get("/metrics")
        assert status == 200
        total = 0.0
        for family in text_string_to_metric_families(body.decode()):
            for sample in family.samples:
                if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                    total += sample.value
        return total


def make_config(workdir: Path, **overrides: Any) -> dict[str, Any]:
    """A config on free loopback ports with SQLite in `workdir`; `overrides` replace top-level sections."""
    config: dict[str, Any] = {
        "listen": {
            "otlp_http": f"127.0.0.1:{free_port()}",
            "otlp_grpc": f"127.0.0.1:{free_port()}",
            "api": f"127.0.0.1:{free_port()}",
        },
        "storage": {"url": f"sqlite+aiosqlite:///{workdir}/vigil.db"},
        "rules": [str(workdir / "rules")],
        "evaluation": {"interval": "1s", "delay": "1s"},
    }
    (workdir / "rules").mkdir(exist_ok=True)
    config.update(overrides)
    return config
