"""The dashboard's template environment (built once) and what every page shares: filters, time ranges, rendering."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from jinja2 import Environment, StrictUndefined, select_autoescape

from collector.bundle import template_loader
from collector.incidents.values import ValueHistory
from collector.web.charts import human_duration, human_ms

# Dashboard templates live in `dashboard/` of the configured templates folder; a page missing there
# comes from the templates folder that ships with Vigil, so a config only overrides what it changes.
STYLESHEET = "dashboard/static/vigil.css"


@dataclass(frozen=True, slots=True)
class TimeRange:
    name: str
    length: timedelta
    step: timedelta


RANGES = {
    r.name: r
    for r in (
        TimeRange("1h", timedelta(hours=1), timedelta(minutes=5)),
        TimeRange("6h", timedelta(hours=6), timedelta(minutes=30)),
        TimeRange("24h", timedelta(hours=24), timedelta(hours=1)),
        TimeRange("7d", timedelta(days=7), timedelta(hours=6)),
        TimeRange("30d", timedelta(days=30), timedelta(days=1)),
    )
}
DEFAULT_RANGE = "24h"


def utcnow() -> datetime:
    return datetime.now(UTC)


def parse_iso(text: Any) -> datetime | None:
    """A time as the API writes it (`2026-11-22T10:00:00.000Z`), or None."""
    if not isinstance(text, str) or not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _clock_time(value: Any) -> str:
    at = value if isinstance(value, datetime) else parse_iso(value)
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if at else "—"


def _number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "—"
    return f"{value:.4g}"


def environment(templates_dir: Path) -> Environment:
    env = Environment(
        loader=template_loader(templates_dir),
        autoescape=select_autoescape(["html", "svg"], default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["duration"] = human_duration
    env.filters["ms"] = human_ms
    env.filters["clock"] = _clock_time
    env.filters["number"] = _number
    return env


class Dashboard:
    """Renders the dashboard pages; holds the template environment and the alerts' value history."""

    def __init__(
        self, templates_dir: Path, history: ValueHistory | None = None, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.env = environment(templates_dir)
        self.history = history if history is not None else ValueHistory()
        self.clock = clock
        self._stylesheet: str | None = None

    def render(self, template: str, status: int = 200, **context: Any) -> web.Response:
        page = self.env.get_template(f"dashboard/{template}").render(now=self.clock(), **context)
        return web.Response(text=page, status=status, content_type="text/html")

    def stylesheet(self) -> str:
        if self._stylesheet is None:
            assert self.env.loader is not None
            self._stylesheet, _, _ = self.env.loader.get_source(self.env, STYLESHEET)
        return self._stylesheet
