"""docker-compose.yml and what it mounts, checked without a Docker engine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from collector.settings import check_settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT.parent / "shared" / "schemas" / "compose-spec.json"
ENV = {"VIGIL_STORAGE_URL": "postgresql+asyncpg://vigil:vigil@postgres:5432/vigil", "VIGIL_WEBHOOK_SECRET": "s"}


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "docker-compose.yml").read_text()))


def test_compose_file_is_valid_against_the_compose_spec() -> None:
    assert SCHEMA.exists(), f"the Compose JSON schema is expected at {SCHEMA}"
    # The schema names draft-07 by a URL jsonschema does not recognise; say which draft it is.
    jsonschema.Draft7Validator(json.loads(SCHEMA.read_text())).validate(compose())


def test_every_mounted_file_exists() -> None:
    for name, service in compose()["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts {source}, which is missing"


def test_collector_routes_each_service_to_one_replica() -> None:
    cfg = yaml.safe_load((ROOT / "deploy" / "otel-collector.yaml").read_text())
    lb = cfg["exporters"]["loadbalancing"]
    assert lb["routing_key"] == "service"
    replicas = [n for n in compose()["services"] if n.startswith("vigil-")]
    assert sorted(lb["resolver"]["static"]["hostnames"]) == sorted(f"{n}:4317" for n in replicas)
    for signal in ("traces", "logs", "metrics"):
        assert cfg["service"]["pipelines"][signal]["exporters"] == ["loadbalancing"]


def test_replica_configs_are_valid_and_point_at_each_other() -> None:
    ids, peers = [], []
    for n in (1, 2):
        path = ROOT / "deploy" / f"replica-{n}.yaml"
        assert check_settings(path, env=ENV) == []
        s = load_settings(path, env=ENV)
        ids.append(s.instance_id())
        peers.append(s.cluster.peers)
        assert s.storage.url == ENV["VIGIL_STORAGE_URL"]
    assert ids == ["vigil-1", "vigil-2"]
    assert peers == [("http://vigil-2:8080",), ("http://vigil-1:8080",)]
    assert check_settings(ROOT / "deploy" / "vigil.yaml", env={}) == []


def test_services_run_the_image_commands() -> None:
    services = compose()["services"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["vigil"]' in dockerfile
    for n in (1, 2):
        assert services[f"vigil-{n}"]["command"] == ["run", "-c", "/etc/vigil/replica.yaml"]
    assert services["demo"]["command"][0] == "demo"
    assert services["webhook-sink"]["entrypoint"] == ["python", "/srv/webhook_sink.py"]
