"""Routing: which receivers an alert goes to, grouped how and timed how; first matching route wins.

With no `routes` in the config every receiver gets every tier with that tier's
defaults: P0 and P1 in real time (TIER_TIMING), P2 in a daily digest. A route
may leave any timer out and gets the alert's tier default for it. A route with
`digest` sends a digest instead of real-time notifications; so does a route
without digest and without explicit timers for P2 alerts (the P2 default).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger

from collector.errors import ConfigError, Problem
from collector.notify.selector import Selector
from collector.settings import Route, Settings


@dataclass(frozen=True, slots=True)
class Timing:
    group_wait: timedelta
    group_interval: timedelta
    repeat_interval: timedelta


TIER_TIMING: Mapping[str, Timing] = {
    "P0": Timing(timedelta(0), timedelta(minutes=1), timedelta(minutes=30)),
    "P1": Timing(timedelta(seconds=30), timedelta(minutes=5), timedelta(hours=2)),
    # Only used when a route sends P2 in real time (it sets a timer or matches P2 explicitly with timers).
    "P2": Timing(timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=24)),
}
DEFAULT_DIGEST = "0 9 * * *"
DEFAULT_GROUP_BY = ("alertname", "service.name")
TIERS = ("P0", "P1", "P2")


_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _cron_for_apscheduler(cron: str) -> str:
    """Standard cron counts weekdays from Sunday = 0 (7 too); APScheduler 3 from Monday = 0. Names mean the same."""
    def name(match: re.Match[str]) -> str:
        number = int(match.group())
        return _DAY_NAMES[number] if number <= 7 else match.group()

    fields = cron.split()
    if len(fields) == 5:
        fields[4] = re.sub(r"(?<!/)\d+", name, fields[4])  # not the step in */2
    return " ".join(fields)


@dataclass(frozen=True, slots=True)
class Schedule:
    """A digest's cron expression (standard 5 fields) and the time zone it is read in."""

    cron: str
    timezone: tzinfo

    def trigger(self) -> CronTrigger:
        return CronTrigger.from_crontab(_cron_for_apscheduler(self.cron), timezone=self.timezone)


def parse_schedule(text: str) -> Schedule:
    """`0 9 * * *` (UTC) or `CRON_TZ=Europe/Berlin 0 9 * * *`. Raises ValueError with a readable message."""
    expr = text.strip()
    zone: tzinfo = UTC
    if expr.startswith(("CRON_TZ=", "TZ=")):
        head, _, expr = expr.partition(" ")
        name = head.split("=", 1)[1]
        try:
            zone = ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {name!r}") from None
        expr = expr.strip()
    schedule = Schedule(expr, zone)
    try:
        schedule.trigger()
    except ValueError as exc:
        hint = "expected 5 cron fields, e.g. '0 9 * * *'"
        raise ValueError(f"invalid digest schedule {text!r}: {exc} ({hint})") from None
    return schedule


@dataclass(frozen=True, slots=True)
class Target:
    """One receiver of one alert in real time: where it is grouped and with which timers."""

    route_key: str
    route_label: str
    receiver: str
    group_by: tuple[str, ...]
    timing: Timing


@dataclass(frozen=True, slots=True)
class CompiledRoute:
    key: str
    label: str
    selector: Selector
    receivers: tuple[str, ...]
    group_by: tuple[str, ...]
    group_wait: timedelta | None
    group_interval: timedelta | None
    repeat_interval: timedelta | None
    digest: Schedule | None

    @property
    def timed(self) -> bool:
        return any(t is not None for t in (self.group_wait, self.group_interval, self.repeat_interval))

    def digest_for(self, tier: str) -> Schedule | None:
        """The digest schedule alerts of `tier` follow on this route, or None when they go out in real time."""
        if self.digest is not None:
            return self.digest
        if tier == "P2" and not self.timed:
            return Schedule(DEFAULT_DIGEST, UTC)
        return None

    def timing(self, tier: str) -> Timing:
        base = TIER_TIMING.get(tier, TIER_TIMING["P1"])
        return Timing(
            self.group_wait if self.group_wait is not None else base.group_wait,
            self.group_interval if self.group_interval is not None else base.group_interval,
            self.repeat_interval if self.repeat_interval is not None else base.repeat_interval,
        )

    def digest_schedule(self) -> Schedule | None:
        """The schedule of this route's digest job, or None when no alert it can match goes to a digest."""
        if self.digest is not None:
            return self.digest
        tiers = self.selector.allowed("tier")
        if self.timed or (tiers is not None and "P2" not in tiers):
            return None
        return Schedule(DEFAULT_DIGEST, UTC)


def _route_key(route: Route) -> str:
    text = json.dumps(route.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def default_routes(receivers: Sequence[str]) -> list[Route]:
    if not receivers:
        return []
    return [Route(match={"tier": tier}, receivers=tuple(receivers)) for tier in TIERS]


class Router:
    """The compiled routes of one config. Pure: no I/O."""

    def __init__(self, routes: Sequence[CompiledRoute]) -> None:
        self.routes = tuple(routes)

    @classmethod
    def from_settings(cls, settings: Settings) -> Router:
        """Compile the config's routes (or the defaults). Raises ConfigError naming each bad route."""
        names = [r.name for r in settings.receivers]
        explicit = bool(settings.routes)
        routes = list(settings.routes) if explicit else default_routes(names)
        compiled, problems = [], []
        for i, route in enumerate(routes):
            schedule = None
            if route.digest is not None:
                try:
                    schedule = parse_schedule(route.digest)
                except ValueError as exc:
                    problems.append(Problem("<config>", 1, 1, f"routes[{i}].digest", str(exc)))
                    continue
            for name in route.receivers:
                if name not in names:
                    problems.append(Problem("<config>", 1, 1, f"routes[{i}].receivers", f"unknown receiver {name!r}"))
            selector = Selector.of(route.match)
            compiled.append(
                CompiledRoute(
                    key=_route_key(route) if explicit else f"default-{route.match['tier']}",
                    label=str(selector),
                    selector=selector,
                    receivers=tuple(dict.fromkeys(route.receivers)),
                    group_by=route.group_by if route.group_by is not None else DEFAULT_GROUP_BY,
                    group_wait=route.group_wait,
                    group_interval=route.group_interval,
                    repeat_interval=route.repeat_interval,
                    digest=schedule,
                )
            )
        if problems:
            raise ConfigError(problems)
        return cls(compiled)

    def route_for(self, labels: Mapping[str, str]) -> CompiledRoute | None:
        for route in self.routes:
            if route.selector.matches(labels):
                return route
        return None

    def targets(self, labels: Mapping[str, str]) -> list[Target]:
        """Real-time receivers of an alert; empty when no route matches or its route sends a digest."""
        route = self.route_for(labels)
        tier = labels.get("tier", "")
        if route is None or route.digest_for(tier) is not None:
            return []
        timing = route.timing(tier)
        return [Target(route.key, route.label, name, route.group_by, timing) for name in route.receivers]
