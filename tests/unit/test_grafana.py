"""The Grafana dashboard and its provisioning: every panel's PromQL reads metrics Vigil exports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from collector import keys
from collector.app import build_app
from collector.rules.ruleset import RuleSet
from collector.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "vigil-mttr.json"
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
# What a PromQL expression may contain besides metric names.
_GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
_RANGE = re.compile(r"\[[^\]]*\]")
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def exported() -> set[str]:
    """Sample names Vigil's /metrics can carry, from the registry the daemon builds."""
    app = build_app(Settings(), RuleSet(), ROOT)
    names = set()
    for family in app[keys.REGISTRY].collect():
        names |= {family.name + suffix for suffix in SUFFIXES.get(family.type, ("",))}
    return names


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for panel in dashboard["panels"]:
        found.append(panel)
        found += panel.get("panels", [])  # panels folded inside a row
    return found


def metric_names(expr: str) -> tuple[set[str], set[str]]:
    """(metric names, grouping labels) of a PromQL expression."""
    labels = {label.strip() for group in _GROUPING.findall(expr) for label in group.split(",") if label.strip()}
    rest = _RANGE.sub("", _GROUPING.sub("", expr))
    names = set()
    for match in _IDENT.finditer(rest):
        following = rest[match.end():].lstrip()
        if not following.startswith("("):  # a function call is not a metric
            names.add(match.group())
    return names, labels


def test_metric_names_are_found_in_promql() -> None:
    expr = "histogram_quantile(0.9, sum by (tier, le) (increase(vigil_x_bucket[$window])))"
    assert metric_names(expr) == ({"vigil_x_bucket"}, {"tier", "le"})


def test_every_panel_queries_metrics_that_vigil_exports() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    known = exported()
    assert {"vigil_incident_ack_seconds_bucket", "vigil_incident_duration_seconds_bucket"} <= known
    used: set[str] = set()
    for panel in panels(dashboard):
        if panel["type"] == "row":
            continue
        assert panel["targets"], f"panel {panel['title']!r} has no query"
        for target in panel["targets"]:
            names, labels = metric_names(target["expr"])
            assert names, f"panel {panel['title']!r}: no metric in {target['expr']!r}"
            assert names <= known, f"panel {panel['title']!r} reads metrics Vigil does not export: {names - known}"
            assert labels <= {"tier", "rule", "le"}, f"panel {panel['title']!r} groups by unknown labels {labels}"
            assert "le" not in labels or all(n.endswith("_bucket") for n in names)
            assert target["datasource"]["uid"] == panel["datasource"]["uid"] == "vigil-prometheus"
            used |= names
    assert {
        "vigil_incident_duration_seconds_sum", "vigil_incident_duration_seconds_bucket",
        "vigil_incident_ack_seconds_sum", "vigil_incident_ack_seconds_bucket",
        "vigil_alerts_firing", "vigil_incidents_total",
    } <= used, "MTTR, MTTA, firing alerts and incidents per tier are all drawn"
    assert dashboard["uid"] == "vigil-mttr" and len({p["id"] for p in panels(dashboard)}) == len(panels(dashboard))


@pytest.mark.parametrize("path", sorted((DEPLOY / "grafana" / "provisioning").rglob("*.yaml")), ids=str)
def test_provisioning_files_are_grafana_v1(path: Path) -> None:
    assert yaml.safe_load(path.read_text())["apiVersion"] == 1


def test_the_datasource_is_the_prometheus_that_scrapes_every_vigil_of_compose() -> None:
    datasources = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yaml").read_text())
    (source,) = datasources["datasources"]
    assert (source["uid"], source["type"], source["url"]) == ("vigil-prometheus", "prometheus", "http://prometheus:9090")
    prometheus = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    (job,) = prometheus["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    daemons = sorted(name for name, s in services.items() if s.get("command", [None])[0] == "run")
    assert daemons, "docker-compose.yml runs Vigil"
    assert job["static_configs"] == [{"targets": [f"{name}:8080" for name in daemons]}]


def test_compose_provisions_grafana_with_prometheus_scraping_vigil() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert "./deploy/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in services["prometheus"]["volumes"]
    grafana = services["grafana"]["volumes"]
    assert "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro" in grafana
    assert "./deploy/grafana/dashboards:/var/lib/grafana/dashboards:ro" in grafana
    provider = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "dashboards" / "vigil.yaml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
