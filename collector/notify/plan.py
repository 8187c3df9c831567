"""The notification config in force: routes, inhibit rules, receivers and loaded templates, swapped whole."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from collector.errors import ConfigError, Problem
from collector.notify.inhibit import InhibitRule
from collector.notify.render import Templates
from collector.notify.router import Router
from collector.settings import Receiver, Settings


@dataclass(frozen=True, slots=True)
class Plan:
    router: Router
    inhibit: tuple[InhibitRule, ...]
    receivers: Mapping[str, Receiver]
    templates: Templates


def build_plan(settings: Settings, templates_dir: Path) -> Plan:
    """Compile routes and load every receiver's template. Raises ConfigError listing every problem.

    Reads the template files, so it runs at start and on reload, never per notification.
    """
    problems: list[Problem] = []
    router: Router | None = None
    try:
        router = Router.from_settings(settings)
    except ConfigError as exc:
        problems += exc.problems
    templates = Templates(templates_dir)
    problems += templates.load(r.template for r in settings.receivers)
    if problems or router is None:
        raise ConfigError(problems)
    return Plan(
        router=router,
        inhibit=tuple(InhibitRule.of(rule) for rule in settings.inhibit),
        receivers={r.name: r for r in settings.receivers},
        templates=templates,
    )
