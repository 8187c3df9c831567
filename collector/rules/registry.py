"""The rule set in force: validate-then-swap reloads that keep the old set when the new one is invalid."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from collector.errors import ConfigError, Problem
from collector.rules.ruleset import RuleChanges, RuleSet

log = logging.getLogger(__name__)

Subscriber = Callable[[RuleSet, RuleSet], None]


@dataclass(frozen=True, slots=True)
class ReloadResult:
    """The outcome of one reload attempt."""

    ok: bool
    at: datetime
    # Version of the set in force after the attempt (the old one when it failed).
    version: str
    problems: tuple[Problem, ...] = ()
    # None when the reload failed.
    changes: RuleChanges | None = None
    # Whether a different set is now in force (False on failure and when the files did not change).
    swapped: bool = False


def _now() -> datetime:
    return datetime.now(UTC)


class RuleRegistry:
    """Holds the current RuleSet. Readers call `current()`; a swap replaces it in one assignment.

    Reloads are serialised, so subscribers see swaps in the order they happened. A
    failed reload leaves the old set running and is remembered (`last_result`,
    `failures`) for the metrics and the API to show.
    """

    def __init__(self, initial: RuleSet | None = None, *, clock: Callable[[], datetime] = _now) -> None:
        self._current = initial if initial is not None else RuleSet()
        self._clock = clock
        self._lock = threading.RLock()
        self._subscribers: list[Subscriber] = []
        self._last: ReloadResult | None = None
        self._last_success_at: datetime | None = clock() if initial is not None else None
        self._failures = 0

    def current(self) -> RuleSet:
        return self._current

    @property
    def last_result(self) -> ReloadResult | None:
        """The latest reload attempt, or None when none was made since start."""
        return self._last

    @property
    def last_success(self) -> bool:
        """False only while the latest reload attempt failed (vigil_rules_last_reload_success)."""
        return self._last is None or self._last.ok

    @property
    def last_success_at(self) -> datetime | None:
        """When a reload last succeeded, or the initial set was given."""
        return self._last_success_at

    @property
    def failures(self) -> int:
        """How many reload attempts failed since start."""
        return self._failures

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call `callback(old, new)` after every swap; returns a function that unsubscribes."""
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def swap(self, new: RuleSet) -> RuleSet:
        """Put `new` in force and notify subscribers; returns the set it replaced."""
        with self._lock:
            return self._swap(new, self._clock())

    def reload(self, load: Callable[[], RuleSet]) -> ReloadResult:
        """Validate a whole new set with `load`, then swap. Never raises ConfigError: problems go in the result."""
        with self._lock:
            try:
                new = load()
            except ConfigError as exc:
                self._failures += 1
                result = ReloadResult(False, self._clock(), self._current.version, exc.problems)
                log.error("rule reload failed, keeping the rules in force:\n%s", exc)
            else:
                at = self._clock()
                changes = new.changes_since(self._current)
                swapped = new.version != self._current.version
                if swapped:
                    self._swap(new, at)
                self._last_success_at = at
                result = ReloadResult(True, at, new.version, (), changes, swapped)
            self._last = result
            return result

    def _swap(self, new: RuleSet, at: datetime) -> RuleSet:
        old, self._current = self._current, new
        self._last_success_at = at
        for callback in list(self._subscribers):
            try:
                callback(old, new)
            except Exception:
                # One failing subscriber must not leave the others on the old rules,
                # nor turn a valid reload into a failed one.
                log.exception("rule set subscriber %r failed", callback)
        return old
