"""docker-compose.yml and the image's config, checked without a Docker engine."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import yaml

from collector.settings import check_settings

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT.parent / "shared" / "schemas" / "compose-spec.json"


def test_compose_file_is_valid_against_the_compose_spec() -> None:
    assert SCHEMA.exists(), f"the Compose JSON schema is expected at {SCHEMA}"
    schema = json.loads(SCHEMA.read_text())
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    # The schema names draft-07 by a URL jsonschema does not recognise; say which draft it is.
    jsonschema.Draft7Validator(schema).validate(compose)


def test_image_config_is_valid_with_and_without_the_database_url() -> None:
    cfg = ROOT / "deploy" / "vigil.yaml"
    assert check_settings(cfg, env={}) == []
    assert check_settings(cfg, env={"VIGIL_STORAGE_URL": "postgresql+asyncpg://vigil:vigil@postgres:5432/vigil"}) == []


def test_compose_runs_the_image_command_with_the_config_it_ships() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert compose["services"]["vigil"]["command"] == ["run", "-c", "/etc/vigil/vigil.yaml"]
    assert "COPY deploy/vigil.yaml /etc/vigil/vigil.yaml" in dockerfile
    assert 'ENTRYPOINT ["vigil"]' in dockerfile
