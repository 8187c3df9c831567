"""The config file: defaults, env substitution, and every problem reported with its position."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from collector.errors import ConfigError
from collector.settings import check_settings, load_settings


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "vigil.yaml"
    p.write_text(text)
    return p


def test_empty_file_gives_the_documented_defaults(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, ""))
    assert s.listen.otlp_http == "127.0.0.1:4318"
    assert s.listen.otlp_grpc == "127.0.0.1:4317"
    assert s.listen.api == "127.0.0.1:8080"
    assert s.storage.url == "sqlite+aiosqlite:///vigil-data/vigil.db"
    assert s.rules == ("rules/",)
    assert s.evaluation.interval == timedelta(seconds=5)
    assert s.retention.max_bytes == 512 * 2**20
    assert s.limits.max_request_bytes == 64 * 2**20


def test_design_example_config_loads(tmp_path: Path) -> None:
    text = """
receivers:
  - name: oncall
    url: https://example.invalid/hook
    template: alertmanager.json.j2
    headers: {}
    hmac_secret: ${VIGIL_ONCALL_SECRET}
    timeout: 5s
    give_up_after: 24h
routes:
  - match: {tier: P0}
    receivers: [oncall]
    group_by: [alertname, service.name]
    group_wait: 0s
    group_interval: 1m
    repeat_interval: 30m
  - match: {tier: P2}
    receivers: [oncall]
    digest: "0 9 * * *"
inhibit:
  - source: {tier: P0}
    target: {tier: [P1, P2]}
    equal: [service.name]
"""
    s = load_settings(write(tmp_path, text), env={"VIGIL_ONCALL_SECRET": "hush"})
    assert s.receivers[0].hmac_secret == "hush"
    assert s.routes[0].repeat_interval == timedelta(minutes=30)
    assert s.inhibit[0].target == {"tier": ["P1", "P2"]}


def test_every_problem_is_reported_at_once_with_positions(tmp_path: Path) -> None:
    text = """listen:
  otlp_http: nonsense
  bogus: 1
retention:
  traces: 5x
receivers:
  - name: oncall
    url: ftp://x
    hmac_secret: ${NOT_SET_ANYWHERE}
"""
    problems = [str(p) for p in check_settings(write(tmp_path, text), env={})]
    f = str(tmp_path / "vigil.yaml")
    assert problems == [
        f"{f}:2:14: listen.otlp_http: invalid address 'nonsense' (expected host:port, e.g. 127.0.0.1:4318)",
        f"{f}:3:3: listen.bogus: unknown key",
        f"{f}:5:11: retention.traces: invalid duration '5x' "
        "(expected e.g. 250ms, 30s, 5m, 1h30m, 7d; units ms s m h d w)",
        f"{f}:8:10: receivers[0].url: invalid URL 'ftp://x' (expected http:// or https://)",
        f"{f}:9:18: receivers[0].hmac_secret: environment variable NOT_SET_ANYWHERE is not set "
        "(use ${NOT_SET_ANYWHERE:-default} for a default)",
    ]


def test_env_default_and_routes_naming_unknown_receivers(tmp_path: Path) -> None:
    text = """storage:
  url: ${DB_URL:-sqlite+aiosqlite:///x.db}
receivers:
  - {name: a, url: "http://127.0.0.1:1/x"}
routes:
  - {match: {tier: P0}, receivers: [a, b]}
"""
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, text), env={})
    assert [str(p).split(": ", 1)[1] for p in info.value.problems] == ["routes[0].receivers[1]: unknown receiver 'b'"]
    assert load_settings(write(tmp_path, text.replace(", b]", "]")), env={}).storage.url == "sqlite+aiosqlite:///x.db"


def test_yaml_syntax_error_and_duplicate_keys(tmp_path: Path) -> None:
    problems = check_settings(write(tmp_path, "listen: [1\n"), env={})
    assert len(problems) == 1 and problems[0].line == 2 and "YAML syntax error" in problems[0].message
    problems = check_settings(write(tmp_path, "evaluation:\n  interval: 1s\n  interval: 2s\n"), env={})
    assert [(p.line, p.col, p.path, p.message) for p in problems] == [(3, 3, "evaluation.interval", "duplicate key")]


def test_substitution_happens_in_values_only(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, 'templates: "${TPL}"\n'), env={"TPL": "/srv/t"})
    assert s.templates == "/srv/t"
    problems = check_settings(write(tmp_path, "${KEY}: 1\n"), env={"KEY": "listen"})
    assert [p.message for p in problems] == ["unknown key"]
