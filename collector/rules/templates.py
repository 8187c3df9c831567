"""Annotation templates: Jinja2 in a sandbox, checked at load time against a sample alert, rendered per alert."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError, TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

log = logging.getLogger(__name__)

# Rule files are written by people who do not run the daemon: the sandbox keeps their
# templates away from Python internals, and StrictUndefined turns a misspelt name into
# an error at load time instead of an empty string in a page at 3 a.m.
_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)

# What template code can raise while rendering: Jinja's own errors (undefined names,
# sandbox refusals) and the Python errors of the expressions it evaluates.
_RENDER_ERRORS = (TemplateError, ArithmeticError, LookupError, TypeError, ValueError, AttributeError)

# Stand-ins used to try every template once when the rules load.
SAMPLE_VALUE = 0.123
SAMPLE_BAND: Mapping[str, float] = {"expected": 0.1, "lower": 0.05, "upper": 0.15, "score": 4.2}


@lru_cache(maxsize=4096)
def compile_template(text: str) -> Template:
    """The compiled template for `text`; rules and reloads share one compilation per distinct text."""
    return _ENV.from_string(text)


def alert_context(
    *,
    labels: Mapping[str, str],
    value: float | None,
    threshold: str | None,
    baseline: Mapping[str, float] | None,
    rule: str,
    tier: str,
    window: str,
) -> dict[str, Any]:
    """The names an annotation template sees, the same at load time and for real alerts."""
    return {
        "labels": dict(labels),
        "value": value,
        "threshold": threshold,
        "baseline": dict(baseline) if baseline is not None else None,
        "rule": rule,
        "tier": tier,
        "window": window,
    }


def template_problem(text: str, context: Mapping[str, Any] | None) -> str | None:
    """Why `text` cannot serve as an annotation, or None. Without a context only the syntax is checked."""
    try:
        template = compile_template(text)
    except TemplateSyntaxError as exc:
        where = f" (template line {exc.lineno})" if "\n" in text.strip() else ""
        return f"template syntax error{where}: {exc.message}"
    if context is None:
        return None
    try:
        template.render(context)
    except _RENDER_ERRORS as exc:
        return f"template fails to render with a sample alert: {_describe(exc)}"
    return None


def render_annotations(templates: Mapping[str, str], context: Mapping[str, Any]) -> dict[str, str]:
    """Render every annotation for one alert.

    The load-time check makes failures rare, but a real alert can still differ from
    the sample (a value of None, a label that is missing on this series). The alert
    must go out anyway, so a failed annotation carries the reason instead of its text.
    """
    out: dict[str, str] = {}
    for key, text in templates.items():
        try:
            out[key] = compile_template(text).render(context)
        except _RENDER_ERRORS as exc:
            log.warning("annotation %r of rule %r failed to render: %s", key, context.get("rule"), _describe(exc))
            out[key] = f"(annotation {key} failed to render: {_describe(exc)})"
    return out


def _describe(exc: Exception) -> str:
    text = getattr(exc, "message", None) or str(exc)
    return f"{type(exc).__name__}: {text}" if not isinstance(exc, TemplateError) else str(text)
