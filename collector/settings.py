"""The config file model (DESIGN §3): pydantic, frozen, unknown keys are errors."""

from __future__ import annotations

import socket
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from collector.errors import ConfigError, Problem
from collector.source import SourceDoc, read_yaml
from collector.units import parse_bytes, parse_duration, parse_hostport


def _duration(value: Any) -> Any:
    if isinstance(value, str):
        return parse_duration(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return timedelta(seconds=value)
    return value


def _address(value: str) -> str:
    parse_hostport(value)
    return value


def _url(value: str) -> str:
    if not value.startswith(("http://", "https://")) or len(value) < 10:
        raise ValueError(f"invalid URL {value!r} (expected http:// or https://)")
    return value


Duration = Annotated[timedelta, BeforeValidator(_duration)]
ByteSize = Annotated[int, BeforeValidator(parse_bytes)]
Address = Annotated[str, AfterValidator(_address)]
Url = Annotated[str, AfterValidator(_url)]
Tier = Literal["P0", "P1", "P2"]
LabelMatch = Mapping[str, str | list[str]]


class Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Listen(Frozen):
    otlp_http: Address = "127.0.0.1:4318"
    otlp_grpc: Address = "127.0.0.1:4317"
    api: Address = "127.0.0.1:8080"


class Storage(Frozen):
    url: str = "sqlite+aiosqlite:///vigil-data/vigil.db"

    @model_validator(mode="after")
    def _known_driver(self) -> Storage:
        if not self.url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("storage.url must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return self


class Evaluation(Frozen):
    interval: Duration = timedelta(seconds=5)
    delay: Duration = timedelta(seconds=5)


class Retention(Frozen):
    traces: Duration = timedelta(minutes=30)
    max_bytes: ByteSize = 512 * 2**20


class Limits(Frozen):
    max_request_bytes: ByteSize = 64 * 2**20
    # Items (spans, points, log records) waiting between ingest and store; past it, 429.
    max_queued_items: int = Field(default=500_000, gt=0)
    # Series per rule and in all; past them, points go to the rule's overflow series.
    max_series_per_rule: int = Field(default=10_000, gt=0)
    max_series: int = Field(default=200_000, gt=0)
    # Seconds a shutdown may spend finishing requests and draining the queue.
    shutdown_grace: Duration = timedelta(seconds=10)


class Auth(Frozen):
    ingest_tokens: tuple[str, ...] = ()
    api_tokens: tuple[str, ...] = ()


class Receiver(Frozen):
    name: str = Field(min_length=1)
    url: Url
    template: str = "alertmanager.json.j2"
    headers: dict[str, str] = Field(default_factory=dict)
    hmac_secret: str | None = None
    timeout: Duration = timedelta(seconds=5)
    give_up_after: Duration = timedelta(hours=24)
    max_alerts: int = Field(default=100, gt=0)


class Route(Frozen):
    match: dict[str, str | list[str]] = Field(default_factory=dict)
    receivers: tuple[str, ...] = Field(min_length=1)
    group_by: tuple[str, ...] | None = None
    group_wait: Duration | None = None
    group_interval: Duration | None = None
    repeat_interval: Duration | None = None
    digest: str | None = None

    @field_validator("digest")
    @classmethod
    def _digest(cls, value: str | None) -> str | None:
        if value is not None:
            from collector.notify.router import parse_schedule  # local import: notify imports settings

            parse_schedule(value)
        return value


class Inhibit(Frozen):
    source: dict[str, str | list[str]]
    target: dict[str, str | list[str]]
    equal: tuple[str, ...] = ()


class Reload(Frozen):
    # Poll rule and config files and reload once they have stopped changing.
    watch: bool = False
    poll_interval: Duration = timedelta(seconds=2)


class Telemetry(Frozen):
    # Vigil's own spans (one per rule-group evaluation and per firing), sent over OTLP/HTTP.
    # Empty: off. Pointing it at Vigil's own listen.otlp_http works: exporting makes no new spans.
    otlp_endpoint: str = ""
    service_name: str = "vigil"


class Cluster(Frozen):
    # This replica's stable name (alert ownership survives its restarts); default hostname:api-port.
    instance_id: str = ""
    # API base URLs of the other replicas, asked for traces this one does not hold.
    peers: tuple[Url, ...] = ()


class Settings(Frozen):
    listen: Listen = Listen()
    # Base of links in webhooks and the dashboard; default http://<listen.api>.
    external_url: str = ""
    storage: Storage = Storage()
    rules: tuple[str, ...] = ("rules/",)
    templates: str = "templates/"
    evaluation: Evaluation = Evaluation()
    retention: Retention = Retention()
    limits: Limits = Limits()
    auth: Auth = Auth()
    receivers: tuple[Receiver, ...] = ()
    routes: tuple[Route, ...] = ()
    inhibit: tuple[Inhibit, ...] = ()
    reload: Reload = Reload()
    telemetry: Telemetry = Telemetry()
    cluster: Cluster = Cluster()

    def instance_id(self) -> str:
        if self.cluster.instance_id:
            return self.cluster.instance_id
        return f"{socket.gethostname()}:{parse_hostport(self.listen.api)[1]}"

    def public_url(self) -> str:
        if self.external_url:
            return self.external_url.rstrip("/")
        host, port = parse_hostport(self.listen.api)
        host = "127.0.0.1" if host in ("0.0.0.0", "") else host
        return f"http://{host}:{port}"


def _cross_check(settings: Settings, doc: SourceDoc) -> list[Problem]:
    problems: list[Problem] = []
    names: set[str] = set()
    for i, r in enumerate(settings.receivers):
        if r.name in names:
            problems.append(doc.problem(("receivers", i, "name"), f"duplicate receiver name {r.name!r}"))
        names.add(r.name)
    for i, route in enumerate(settings.routes):
        for j, name in enumerate(route.receivers):
            if name not in names:
                problems.append(doc.problem(("routes", i, "receivers", j), f"unknown receiver {name!r}"))
    return problems


def parse_settings(doc: SourceDoc) -> tuple[Settings | None, list[Problem]]:
    """Validate a parsed config document into Settings; every problem is positioned."""
    data = doc.data if doc.data is not None else {}
    if not isinstance(data, dict):
        return None, [doc.problem((), "the config file must be a mapping of keys")]
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        return None, doc.validation_problems(exc)
    problems = _cross_check(settings, doc)
    return (None if problems else settings), problems


def load_settings(path: Path | None, env: Mapping[str, str] | None = None) -> Settings:
    """Read the config file (or the defaults when `path` is None). Raises ConfigError with every problem."""
    if path is None:
        return Settings()
    doc, problems = read_yaml(path, env)
    if doc.data is None and problems:
        raise ConfigError(problems)
    settings, more = parse_settings(doc)
    problems += more
    if problems or settings is None:
        raise ConfigError(sorted(problems, key=lambda p: (p.file, p.line, p.col)))
    return settings


def check_settings(path: Path, env: Mapping[str, str] | None = None) -> list[Problem]:
    """Every problem in a config file, without raising."""
    try:
        load_settings(path, env)
    except ConfigError as exc:
        return list(exc.problems)
    return []
