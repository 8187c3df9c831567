"""Notification templates: Jinja2 in a sandbox, files in templates/, checked against samples when loaded.

A template named `*.json.j2` must render valid JSON for a firing, a resolved and
a digest sample, or the load fails with `file:line:col` problems. Values go
through the `tojson` filter; glued-together strings are caught by the samples'
quotes and newlines. A template whose first line holds `vigil: per-alert` (in a
Jinja comment) gets one notification per alert (PagerDuty: one dedup_key per incident).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson
from jinja2 import (
    StrictUndefined,
    Template,
    TemplateError,
    TemplateNotFound,
    TemplateSyntaxError,
    Undefined,
)
from jinja2.sandbox import SandboxedEnvironment

from collector.bundle import template_loader
from collector.errors import Problem
from collector.notify.context import alertmanager_body, sample_context

log = logging.getLogger(__name__)

DEFAULT_TEMPLATE = "alertmanager.json.j2"
KINDS = ("firing", "resolved", "digest")
PER_ALERT_MARK = "vigil: per-alert"
# What template code can raise while rendering: Jinja's errors and those of the expressions it runs.
_RENDER_ERRORS = (TemplateError, ArithmeticError, LookupError, TypeError, ValueError, AttributeError)


def tojson(value: Any) -> str:
    """JSON text of a value. Unlike Jinja's own filter it does not HTML-escape: bodies are not HTML."""
    if isinstance(value, Undefined):
        # StrictUndefined raises here, naming the misspelt variable, instead of "not serializable".
        return str(value)
    return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


def fit(lines: Iterable[Any], limit: int = 3000, more: int = 0, unit: str = "chars", sep: str = "\n") -> str:
    """Join lines up to `limit` characters (or UTF-8 bytes), ending with "… and N more" when some do not fit.

    `more` counts items that are not even in `lines` (e.g. `truncatedAlerts`).
    """
    items = [str(x) for x in lines]

    def size(text: str) -> int:
        return len(text.encode()) if unit == "bytes" else len(text)

    whole = sep.join(items)
    if not more and size(whole) <= limit:
        return whole
    reserve = size(f"{sep}… and {len(items) + more} more")
    out: list[str] = []
    used = 0
    for line in items:
        extra = size(line) + (size(sep) if out else 0)
        if used + extra + reserve > limit:
            break
        out.append(line)
        used += extra
    if not out and items:
        # Not even one line fits whole: keep the start of the first one.
        room = max(limit - reserve - size("…"), 0)
        first = items[0]
        cut = first.encode()[:room].decode("utf-8", "ignore") if unit == "bytes" else first[:room]
        out = [cut + "…"]
    rest = len(items) - len(out) + more
    return sep.join(out) + (f"{sep}… and {rest} more" if rest else "")


def duration(seconds: float | None) -> str:
    """`3725` → `1h 2m`; `42` → `42s`; None → `-`."""
    if seconds is None:
        return "-"
    s = round(seconds)
    days, s = divmod(s, 86400)
    hours, s = divmod(s, 3600)
    minutes, s = divmod(s, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {s}s" if s else f"{minutes}m"
    return f"{s}s"


@dataclass(frozen=True, slots=True)
class Rendered:
    body: str
    content_type: str


def content_type(name: str) -> str:
    return "application/json" if name.endswith(".json.j2") else "text/plain; charset=utf-8"


def _environment(directory: Path) -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        loader=template_loader(directory),
        undefined=StrictUndefined,
        autoescape=False,
        # Templates are loaded and checked once; a file edited later takes effect on reload, after its check.
        auto_reload=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["tojson"] = tojson
    env.filters["fit"] = fit
    env.filters["duration"] = duration
    return env


def _line_in_template(tb: TracebackType | None, filename: str | None) -> int:
    """The template line a render error came from (Jinja maps its frames back to template lines)."""
    line = 1
    while tb is not None:
        if filename and tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


class Templates:
    """The notification templates of one directory. Nothing is read until `load`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._env = _environment(directory)
        self._loaded: dict[str, Template] = {}
        self._per_alert: dict[str, bool] = {}

    def load(self, names: Iterable[str]) -> list[Problem]:
        """Read, compile and check each template against the samples; every problem found is returned."""
        problems: list[Problem] = []
        for name in dict.fromkeys(names):
            found = self._load_one(name)
            problems += found
        return problems

    def _load_one(self, name: str) -> list[Problem]:
        path = str(self.directory / name)
        try:
            source, filename, _ = self._env.loader.get_source(self._env, name)  # type: ignore[union-attr]
            template = self._env.get_template(name)
        except TemplateNotFound:
            return [
                Problem(path, 1, 1, "", f"template {name!r} not found in {self.directory} or among the bundled ones")
            ]
        except TemplateSyntaxError as exc:
            return [Problem(path, exc.lineno or 1, 1, "", f"template syntax error: {exc.message}")]
        problems = []
        for kind in KINDS:
            try:
                body = template.render(sample_context(kind))
            except _RENDER_ERRORS as exc:
                line = _line_in_template(exc.__traceback__, filename)
                problems.append(Problem(path, line, 1, "", f"fails to render a {kind} sample: {exc}"))
                continue
            if name.endswith(".json.j2"):
                try:
                    json.loads(body)
                except json.JSONDecodeError as exc:
                    problems.append(
                        Problem(
                            path,
                            exc.lineno,
                            exc.colno,
                            "",
                            f"renders invalid JSON for a {kind} sample ({exc.msg}; position in the rendered "
                            "output; pass every value through `| tojson`)",
                        )
                    )
        if not problems:
            self._loaded[name] = template
            self._per_alert[name] = PER_ALERT_MARK in (source.splitlines() or [""])[0]
        return problems

    def per_alert(self, name: str) -> bool:
        return self._per_alert.get(name, False)

    def render(self, name: str, ctx: Mapping[str, Any]) -> Rendered:
        """Render for a real notification. If the template fails on this data, the default body goes out instead:
        a page with the standard layout beats a page that is never sent."""
        template = self._loaded.get(name)
        if template is not None:
            try:
                body = template.render(ctx)
                if name.endswith(".json.j2"):
                    orjson.loads(body)
                return Rendered(body, content_type(name))
            except (*_RENDER_ERRORS, orjson.JSONDecodeError) as exc:
                log.error("template %s failed for %s, sending the default body: %s", name, ctx.get("groupKey"), exc)
        else:
            log.error("template %s is not loaded, sending the default body", name)
        return Rendered(orjson.dumps(alertmanager_body(ctx)).decode(), "application/json")


def check_templates(templates_dir: Path, names: Iterable[str]) -> list[Problem]:
    """Every problem of the named templates (for `vigil check`): missing, syntax, render or JSON errors."""
    return Templates(templates_dir).load(names)
