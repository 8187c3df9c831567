"""Fixtures that start real daemons, on SQLite and (when VIGIL_TEST_POSTGRES_URL is set) on PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import postgres_database
from tests.integration.daemon import Daemon, make_config


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """The daemons' database: None for a SQLite file in their folder, else a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield None
        return
    with postgres_database() as url:
        yield url


@pytest.fixture
def start_daemon(tmp_path: Path, backend: str | None) -> Iterator[Callable[..., Daemon]]:
    started: list[Daemon] = []

    def start(env: dict[str, str] | None = None, **overrides: Any) -> Daemon:
        workdir = tmp_path / f"d{len(started)}"
        workdir.mkdir()
        if backend is not None:
            overrides.setdefault("storage", {"url": backend})
        d = Daemon(workdir, make_config(workdir, **overrides), env or {})
        d.start()
        started.append(d)
        return d

    yield start
    for d in started:
        if d.proc is not None and d.proc.poll() is None:
            d.stop()
