"""The `vigil` command as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from collector import __version__


def vigil(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "collector", *args], capture_output=True, text=True, cwd=cwd, timeout=60
    )


def test_version() -> None:
    result = vigil("version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"vigil {__version__}"


def test_check_reports_config_problems_with_positions(tmp_path: Path) -> None:
    cfg = tmp_path / "vigil.yaml"
    cfg.write_text("listen:\n  api: nowhere\nrules: []\nlimits:\n  max_request_bytes: huge\n")
    result = vigil("check", str(cfg))
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"{cfg}:2:8: listen.api: invalid address 'nowhere' (expected host:port, e.g. 127.0.0.1:4318)",
        f"{cfg}:5:22: limits.max_request_bytes: invalid size 'huge' "
        "(expected e.g. 64MiB, 512MB, 1GiB or a number of bytes)",
    ]
    as_json = json.loads(vigil("check", "--format", "json", str(cfg)).stdout)
    assert as_json[0] == {
        "file": str(cfg),
        "line": 2,
        "col": 8,
        "path": "listen.api",
        "message": "invalid address 'nowhere' (expected host:port, e.g. 127.0.0.1:4318)",
    }


def test_check_passes_a_good_config(tmp_path: Path) -> None:
    (tmp_path / "rules").mkdir()
    cfg = tmp_path / "vigil.yaml"
    cfg.write_text("rules: [rules/]\nevaluation: {interval: 10s}\n")
    result = vigil("check", str(cfg))
    assert (result.returncode, result.stdout) == (0, "")


def test_run_with_invalid_config_exits_nonzero_with_one_line(tmp_path: Path) -> None:
    cfg = tmp_path / "vigil.yaml"
    cfg.write_text("listen:\n  api: 1\n  nope: 2\n")
    result = vigil("run", "-c", str(cfg))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"vigil: invalid config: {cfg}:2:8: listen.api:")
    assert "(and 1 more; run `vigil check`)" in lines[0]


def test_run_on_a_port_in_use_fails_with_a_reason(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        cfg = tmp_path / "vigil.yaml"
        cfg.write_text(
            f"listen: {{otlp_http: '127.0.0.1:{port}', otlp_grpc: '127.0.0.1:0', api: '127.0.0.1:0'}}\n"
            f"storage: {{url: 'sqlite+aiosqlite:///{tmp_path}/v.db'}}\nrules: []\n"
        )
        result = vigil("run", "-c", str(cfg))
    assert result.returncode == 1
    assert "vigil: cannot start:" in result.stderr
    assert "Unclosed" not in result.stderr and "Traceback" not in result.stderr
