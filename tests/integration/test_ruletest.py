"""`vigil test`: rule unit tests pass, fail with a readable diff, and report file problems with positions."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

RULE = """group: t
interval: 10s
rules:
  - name: SlowCheckout
    tier: P1
    select: {signal: spans, where: {service.name: checkout}}
    measure: latency_p99
    by: [service.name]
    window: 1m
    condition: {threshold: "> 500ms"}
    for: 1m
"""

TEST = """rule_files: [rules.yaml]
tests:
  - name: latency jump
    interval: 10s
    input:
      spans:
        - attributes: {service.name: checkout}
          rate: 5x60
          latency: 100x11 900x48
    expect:
      - at: 1m50s
        alerts: []
      - at: 2m30s
        alerts:
          - {alertname: SlowCheckout, state: pending, labels: {service.name: checkout}}
      - at: 4m
        alerts:
          - {alertname: SlowCheckout, state: %s, labels: {service.name: checkout}}
"""


def vigil_test(*files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "collector", "test", *map(str, files)], capture_output=True, text=True, timeout=120
    )


def test_the_documented_example_passes() -> None:
    result = vigil_test(ROOT / "examples" / "rule-tests" / "http_test.yaml")
    assert result.returncode == 0, result.stdout
    assert result.stdout.splitlines()[-1] == "2 passed, 0 failed"


def test_passing_and_failing_cases_with_a_diff(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(RULE)
    good = tmp_path / "good_test.yaml"
    good.write_text(TEST % "firing")
    result = vigil_test(good)
    assert result.returncode == 0, result.stdout
    assert result.stdout.splitlines() == [f"PASS  {good}: latency jump", "1 passed, 0 failed"]

    bad = tmp_path / "bad_test.yaml"
    bad.write_text(TEST % "pending")
    result = vigil_test(bad)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"FAIL  {bad}: latency jump",
        "    at 4m0s:",
        '      -pending SlowCheckout {service.name="checkout"}',
        '      +firing SlowCheckout {service.name="checkout"}',
        "0 passed, 1 failed",
    ]


def test_problems_in_a_test_file_have_positions(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(RULE)
    broken = tmp_path / "broken_test.yaml"
    broken.write_text(
        "rule_files: [rules.yaml]\ntests:\n  - name: x\n    input:\n      spans:\n"
        "        - {rate: 5x3y}\n    expect: [{at: 1m}]\n    bogus: 1\n"
    )
    result = vigil_test(broken)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert (
        f"{broken}:6:18: tests[0].input.spans[0].rate: cannot read '5x3y' "
        "(expected e.g. 5, 5x3, 1+2x3, 10-1x5 or _)" in lines
    )
    assert f"{broken}:8:5: tests[0].bogus: unknown key" in lines
    assert lines[-1] == "0 passed, 0 failed, 2 problems"
