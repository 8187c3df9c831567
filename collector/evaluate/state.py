"""The alert lifecycle of DESIGN §5 for one series, as pure code: inactive → pending → firing → resolved.

`advance` takes an instance's current state and one evaluation's observation and
returns the new state and what happened. It knows nothing of storage or
notification, so the same code drives the daemon, `vigil test` and `vigil backtest`.
"""

from __future__ import annotations

import enum
import hashlib
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal

from collector.model import ResolveReason


class Phase(enum.StrEnum):
    PENDING = "pending"
    FIRING = "firing"


NoData = Literal["ok", "alerting", "keep"]

# Evaluations run on a schedule with a few milliseconds of jitter; a timer that is this close to done is done,
# so that `for: 2s` at a 1 s interval fires on the second evaluation, not sometimes on the third.
JITTER = timedelta(milliseconds=100)


@dataclass(frozen=True, slots=True)
class Timing:
    """The parts of a rule that shape its lifecycle."""

    for_: timedelta = timedelta(0)
    keep_firing_for: timedelta = timedelta(0)
    no_data: NoData = "ok"


@dataclass(frozen=True, slots=True)
class Observation:
    """What one evaluation saw for one series.

    `breach`: the firing condition holds. `clear`: the recovery condition holds
    (the `recover` threshold if the rule has one, else "not breach"). With no
    value, `missing` says why: the window had too little data (`no_data`) or the
    series was not there at all (`series_gone`).
    """

    value: float | None
    breach: bool
    clear: bool
    missing: ResolveReason | None = None
    band: Mapping[str, object] | None = None

    @classmethod
    def no_data(cls, reason: ResolveReason = ResolveReason.NO_DATA) -> Observation:
        return cls(None, breach=False, clear=True, missing=reason)


@dataclass(frozen=True, slots=True)
class Instance:
    """A pending or firing alert instance (inactive instances do not exist)."""

    fingerprint: str
    rule: str
    definition_hash: str
    labels: Mapping[str, str]
    phase: Phase
    active_since: datetime  # first breach of this episode: the event's startsAt
    fired_at: datetime | None = None
    clear_since: datetime | None = None  # firing, and the recovery condition has held since then
    value: float | None = None
    incident_id: str | None = None
    band: Mapping[str, object] | None = field(default=None, compare=False)


class Change(enum.StrEnum):
    PENDING = "pending"  # inactive → pending
    DROPPED = "dropped"  # pending → inactive, never fired
    FIRING = "firing"  # → firing (an incident opens)
    RESOLVED = "resolved"  # firing → inactive (the incident closes)


@dataclass(frozen=True, slots=True)
class Transition:
    change: Change
    instance: Instance
    at: datetime
    reason: ResolveReason | None = None


def fingerprint(rule: str, labels: Mapping[str, str], by: tuple[str, ...]) -> str:
    """Hash of the rule name and the series' `by` values: the identity of an alert instance."""
    h = hashlib.sha256(rule.encode())
    for key in by:
        h.update(b"\0" + key.encode() + b"=" + labels.get(key, "").encode())
    return h.hexdigest()[:32]


def new_incident_id() -> str:
    return str(uuid.uuid4())


def advance(
    current: Instance | None,
    seen: Observation,
    now: datetime,
    timing: Timing,
    create: Callable[[], Instance],
    incident_id: Callable[[], str] = new_incident_id,
) -> tuple[Instance | None, list[Transition]]:
    """One evaluation of one series. `create` builds a fresh pending instance (used on a first breach)."""
    if seen.missing is not None:
        if timing.no_data == "keep":
            return current, []
        if timing.no_data == "alerting":
            seen = Observation(None, breach=True, clear=False, missing=seen.missing, band=seen.band)
    if current is None:
        if not seen.breach:
            return None, []
        pending = replace(create(), phase=Phase.PENDING, active_since=now, value=seen.value, band=seen.band)
        out = [Transition(Change.PENDING, pending, now)]
        if timing.for_ <= timedelta(0):
            fired = _fire(pending, now, incident_id)
            return fired, [*out, Transition(Change.FIRING, fired, now)]
        return pending, out
    current = replace(current, value=seen.value if seen.missing is None else current.value, band=seen.band)
    if current.phase is Phase.PENDING:
        if not seen.breach:
            return None, [Transition(Change.DROPPED, current, now)]
        if now - current.active_since >= timing.for_ - JITTER:
            fired = _fire(current, now, incident_id)
            return fired, [Transition(Change.FIRING, fired, now)]
        return current, []
    # Firing: resolve once the recovery condition has held for keep_firing_for.
    if not seen.clear:
        return replace(current, clear_since=None), []
    clear_since = current.clear_since or now
    if now - clear_since >= timing.keep_firing_for - JITTER:
        reason = seen.missing or ResolveReason.CONDITION_CLEARED
        return None, [Transition(Change.RESOLVED, replace(current, clear_since=clear_since), now, reason)]
    return replace(current, clear_since=clear_since), []


def _fire(instance: Instance, now: datetime, incident_id: Callable[[], str]) -> Instance:
    return replace(instance, phase=Phase.FIRING, fired_at=now, clear_since=None, incident_id=incident_id())


def resolve_now(instance: Instance, now: datetime, reason: ResolveReason) -> list[Transition]:
    """End an instance outside the normal flow (rule removed or changed): a firing one resolves, a pending one drops."""
    if instance.phase is Phase.FIRING:
        return [Transition(Change.RESOLVED, instance, now, reason)]
    return [Transition(Change.DROPPED, instance, now, reason)]
