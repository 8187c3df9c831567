"""`vigil backtest` replays a CSV series or recorded OTLP through a rule and reports what would have fired."""

from __future__ import annotations

import csv
import json
import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from google.protobuf.json_format import MessageToDict

from tests.unit.evaluate.test_rulerun import spans

BASELINE_RULE = """group: bt
rules:
  - name: LatencyAnomaly
    tier: P1
    select: {signal: spans, where: {service.name: checkout}}
    measure: latency_p99
    window: 1m
    condition:
      baseline: {method: robust, history: 1d, sensitivity: 4, direction: above, min_history: 2h, min_delta: 20}
    keep_firing_for: 5m
"""

THRESHOLD_RULE = """group: bt
interval: 10s
rules:
  - name: Errors
    tier: P0
    select: {signal: spans, where: {service.name: checkout}}
    measure: error_ratio
    window: 1m
    condition: {threshold: "> 0.2"}
    for: 30s
"""

T0 = datetime(2026, 3, 2, tzinfo=UTC)


def vigil(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "collector", "backtest", *args],
                          capture_output=True, text=True, timeout=120)


def test_csv_replay_finds_the_injected_spike_and_writes_scores(tmp_path: Path) -> None:
    rng = random.Random(7)
    rows = []
    for minute in range(2 * 24 * 60):
        at = T0 + timedelta(minutes=minute)
        value = 100 + rng.gauss(0, 5)
        if 30 * 60 <= minute < 30 * 60 + 20:  # a 20-minute latency spike on day 2
            value = 400 + rng.gauss(0, 5)
        rows.append((at.isoformat().replace("+00:00", "Z") if minute % 2 else str(at.timestamp()), f"{value:.2f}"))
    series = tmp_path / "latency.csv"
    with series.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["timestamp", "value"])
        w.writerows(rows)
    (tmp_path / "rules.yaml").write_text(BASELINE_RULE)
    scores = tmp_path / "scores.csv"
    result = vigil("--rules", str(tmp_path / "rules.yaml"), "--csv", str(series), "--format", "jsonl",
                   "--scores", str(scores))
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["event"] for e in events] == ["firing", "resolved"]
    fired, resolved = (datetime.fromisoformat(e["at"].replace("Z", "+00:00")) for e in events)
    spike = T0 + timedelta(minutes=30 * 60)
    assert spike <= fired <= spike + timedelta(minutes=2)
    assert spike + timedelta(minutes=20) <= resolved <= spike + timedelta(minutes=20 + 5 + 2)
    assert events[0]["rule"] == "LatencyAnomaly" and events[0]["value"] > 300
    assert 90 < events[0]["baseline"]["expected"] < 110 and events[0]["baseline"]["method"] == "robust"
    with scores.open() as f:
        table = list(csv.DictReader(f))
    assert len(table) == len(rows)
    assert list(table[0]) == ["timestamp", "value", "expected", "lower", "upper", "score", "state"]
    assert table[0]["state"] == "inactive"
    assert {r["state"] for r in table[30 * 60 : 30 * 60 + 20]} == {"firing"}

    text = vigil("--rules", str(tmp_path / "rules.yaml"), "--csv", str(series))
    assert text.returncode == 0
    assert text.stdout.splitlines()[-1] == "1 fired, 1 resolved, 0 still firing at the end"


def test_otlp_replay_through_the_store(tmp_path: Path) -> None:
    recorded = tmp_path / "traces.jsonl"
    with recorded.open("w") as f:
        for second in range(0, 300, 5):
            errors = 5 if 60 <= second < 150 else 0
            req = spans("checkout", T0 + timedelta(seconds=second), ok=10 - errors, errors=errors)
            doc = MessageToDict(req)
            for rs in doc["resourceSpans"]:
                for ss in rs["scopeSpans"]:
                    for s in ss["spans"]:
                        for key in ("traceId", "spanId"):
                            s[key] = __import__("base64").b64decode(s[key]).hex()
            f.write(json.dumps(doc) + "\n")
    (tmp_path / "rules.yaml").write_text(THRESHOLD_RULE)
    result = vigil("--rules", str(tmp_path / "rules.yaml"), "--otlp", str(recorded), "--format", "jsonl")
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["event"] for e in events] == ["firing", "resolved"]
    fired = datetime.fromisoformat(events[0]["at"].replace("Z", "+00:00"))
    assert T0 + timedelta(seconds=60 + 30) <= fired <= T0 + timedelta(seconds=60 + 30 + 30)


def test_bad_inputs_say_where(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(BASELINE_RULE)
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,value\n2026-03-02T00:00:00Z,1\nyesterday,2\n")
    result = vigil("--rules", str(tmp_path / "rules.yaml"), "--csv", str(bad))
    assert result.returncode == 1
    assert f"{bad}:3: cannot read timestamp 'yesterday'" in result.stderr
    result = vigil("--rules", str(tmp_path / "rules.yaml"), "--rule", "Nope", "--csv", str(bad))
    assert result.returncode == 1 and "no rule 'Nope'" in result.stderr
