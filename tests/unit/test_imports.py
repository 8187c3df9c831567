"""Every module imports on its own in a fresh interpreter (catches import cycles and import-time I/O)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODULES = sorted(
    ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
    for p in (ROOT / "collector").rglob("*.py")
    # Alembic loads its migration scripts itself (env.py needs its context; versions start with digits).
    if "migrations" not in p.parts
)


@pytest.mark.parametrize("module", MODULES)
def test_module_imports_alone(module: str) -> None:
    result = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr


def test_no_stage_imports_the_composition_root() -> None:
    offenders = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "collector").rglob("*.py")
        if p.name != "cli.py" and "collector.app" in p.read_text()
    ]
    assert offenders == []


def test_evaluate_never_imports_notify() -> None:
    offenders = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "collector" / "evaluate").rglob("*.py")
        if "collector.notify" in p.read_text()
    ]
    assert offenders == []
