"""One rule's evaluation, without I/O: window stats in, lifecycle transitions out.

A RuleRun holds the rule's live alert instances (and, for baselines, one
detector per series). The evaluator feeds it the store's window stats every
interval; `vigil test` and `vigil backtest` feed it the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Container, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from collector.evaluate.baseline import BaselineParams, Detector, make_detector
from collector.evaluate.state import (
    Change,
    Instance,
    Observation,
    Phase,
    Timing,
    Transition,
    advance,
    fingerprint,
    new_incident_id,
    resolve_now,
)
from collector.model import Op, ResolveReason
from collector.rules.schema import Rule

log = logging.getLogger(__name__)

# How long an `absent` rule with `by` remembers a series it has seen, to notice it going silent.
ABSENT_MEMORY = timedelta(hours=24)


class Exemplar(Protocol):
    trace_id: bytes
    span_id: bytes


class Stats(Protocol):
    """What the store reports for one series over one window."""

    @property
    def samples(self) -> int: ...

    @property
    def exemplars(self) -> tuple[Any, ...]: ...

    def measure(self, name: str) -> float | None: ...


@dataclass(frozen=True, slots=True)
class Outcome:
    """Transitions of one evaluation, with the window stats of each series that fired (for its exemplars)."""

    transitions: list[Transition]
    stats: dict[str, Stats]


class RuleRun:
    """Evaluation state of one rule: its instances, detectors and the series an `absent` rule has seen."""

    def __init__(
        self,
        rule: Rule,
        group: str,
        instances: Iterable[Instance] = (),
        detector_states: Mapping[str, dict[str, Any]] | None = None,
        incident_id: Callable[[], str] = new_incident_id,
    ) -> None:
        self.rule = rule
        self.group = group
        self.instances: dict[str, Instance] = {i.fingerprint: i for i in instances}
        self.timing = Timing(rule.for_, rule.keep_firing_for, rule.no_data)
        self.detectors: dict[str, Detector] = {}
        self._detector_states = dict(detector_states or {})
        self._absent_seen: dict[tuple[str, ...], datetime] = {}
        self._identities: dict[tuple[str, ...], tuple[dict[str, str], str]] = {}
        self._identity_cap = 10_000
        self._incident_id = incident_id
        self.last: dict[str, Observation] = {}
        baseline = rule.condition.baseline
        self._params = BaselineParams.from_spec(baseline) if baseline is not None else None

    def labels_of(self, by_values: tuple[str, ...]) -> dict[str, str]:
        return self.rule.alert_labels(dict(zip(self.rule.by, by_values, strict=True)))

    def _create(self, labels: dict[str, str]) -> Callable[[], Instance]:
        def create() -> Instance:
            fp = fingerprint(self.rule.name, labels, self.rule.by)
            return Instance(fp, self.rule.name, self.rule.definition_hash, labels, Phase.PENDING, datetime.min)

        return create

    def evaluate(self, results: Mapping[tuple[str, ...], Stats], now: datetime, *, complete: bool = True) -> Outcome:
        """Judge one window. `complete` is False while the window reaches back before the process started:
        then missing data proves nothing and leaves every instance as it is."""
        out = Outcome([], {})
        if self.rule.condition.absent:
            for fp, (labels, seen, _) in self._observe_absent(results, now, complete).items():
                self._step(fp, labels, seen, now, complete, out)
            return out
        # The hot loop: most series are inactive and fine, and cost one measure and one comparison.
        threshold, recover = self.rule.condition.threshold, self.rule.recover
        measure, min_samples = self.rule.measure, self.rule.min_samples
        alerting_on_no_data = self.timing.no_data == "alerting"
        instances, identity = self.instances, self._identity
        reported: set[str] = set()
        for by_values, stats in results.items():
            labels, fp = identity(by_values)
            reported.add(fp)
            value = stats.measure(measure)
            if value is None or (min_samples and stats.samples < min_samples):
                if fp not in instances and not alerting_on_no_data:
                    continue
                seen = Observation.no_data()
            elif threshold is not None:
                breach = threshold.breached(value)
                if not breach and fp not in instances:
                    continue
                seen = Observation(value, breach, recover.breached(value) if recover is not None else not breach)
            else:
                seen = self._judge_baseline(fp, value, now)
            if self._step(fp, labels, seen, now, complete, out):
                out.stats[fp] = stats
        for fp, labels, seen in self._unreported(reported, bool(results)):
            self._step(fp, labels, seen, now, complete, out)
        return out

    def _unreported(self, reported: Container[str], others: bool) -> list[tuple[str, dict[str, str], Observation]]:
        """Instances whose series the window did not report: with other series still reporting, that
        series is gone; with nothing at all in the window, the rule has no data."""
        reason = ResolveReason.SERIES_GONE if others else ResolveReason.NO_DATA
        return [
            (fp, dict(i.labels), Observation.no_data(reason)) for fp, i in self.instances.items() if fp not in reported
        ]

    def _step(
        self, fp: str, labels: dict[str, str], seen: Observation, now: datetime, complete: bool, out: Outcome
    ) -> bool:
        """Advance one series; True when it fired now (its exemplars become evidence)."""
        if seen.missing is not None and not complete:
            return False
        if seen.band is not None or fp in self.instances:
            self.last[fp] = seen
        new, changes = advance(self.instances.get(fp), seen, now, self.timing, self._create(labels), self._incident_id)
        if new is None:
            self.instances.pop(fp, None)
            if seen.band is None:
                self.last.pop(fp, None)
        else:
            self.instances[fp] = new
        out.transitions.extend(changes)
        return any(t.change is Change.FIRING for t in changes)

    def fingerprint_of(self, by_values: tuple[str, ...]) -> str:
        return self._identity(by_values)[1]

    def _identity(self, by_values: tuple[str, ...]) -> tuple[dict[str, str], str]:
        entry = self._identities.get(by_values)
        if entry is None:
            if len(self._identities) > 4 * self._identity_cap:
                self._identities.clear()  # series churn: start over rather than grow without bound
            labels = self.labels_of(by_values)
            entry = (labels, fingerprint(self.rule.name, labels, self.rule.by))
            self._identities[by_values] = entry
        return entry

    def _judge_baseline(self, fp: str, value: float, now: datetime) -> Observation:
        assert self._params is not None
        detector = self.detectors.get(fp)
        if detector is None:
            detector = self._detector(fp)
            self.detectors[fp] = detector
        firing = fp in self.instances and self.instances[fp].phase is Phase.FIRING
        # While firing, the baseline does not learn: an outage must not become the new normal.
        verdict = detector.observe(now.timestamp(), value, learn=not firing)
        band = {**verdict.to_dict(self._params.method), "learning": verdict.learning}
        return Observation(value, verdict.anomalous, not verdict.anomalous, band=band)

    def _detector(self, fp: str) -> Detector:
        assert self._params is not None
        state = self._detector_states.pop(fp, None)
        try:
            return make_detector(self._params, state)
        except ValueError:
            # A stored state this version cannot read: learn afresh rather than stop evaluating.
            log.warning("rule %s: baseline state of series %s unreadable; learning afresh", self.rule.name, fp)
            return make_detector(self._params, None)

    def _observe_absent(
        self, results: Mapping[tuple[str, ...], Stats], now: datetime, complete: bool
    ) -> dict[str, tuple[dict[str, str], Observation, Stats | None]]:
        present = {k: s for k, s in results.items() if s.samples > 0}
        out: dict[str, tuple[dict[str, str], Observation, Stats | None]] = {}
        if not self.rule.by:
            labels = self.labels_of(())
            # Equality matchers name what is absent (e.g. service.name: checkout): show them as labels.
            for m in self.rule.select.where:
                if m.op is Op.EQ and not m.negate and isinstance(m.value, str):
                    labels.setdefault(m.key, m.value)
            fp = fingerprint(self.rule.name, labels, self.rule.by)
            count = float(sum(s.samples for s in present.values()))
            seen = Observation(count, count == 0, count > 0) if (present or complete) else Observation.no_data()
            out[fp] = (labels, seen, None)
            return out
        for key in present:
            self._absent_seen[key] = now
        for key, last in list(self._absent_seen.items()):
            if now - last > ABSENT_MEMORY:
                del self._absent_seen[key]
        for key in self._absent_seen:
            labels = self.labels_of(key)
            fp = fingerprint(self.rule.name, labels, self.rule.by)
            stats = present.get(key)
            count = float(stats.samples) if stats is not None else 0.0
            out[fp] = (labels, Observation(count, count == 0, count > 0), None)
        for fp, labels, seen in self._unreported(out, bool(present)):
            out[fp] = (labels, seen, None)
        return out

    def detector_states(self) -> dict[str, dict[str, Any]]:
        return {fp: d.state() for fp, d in self.detectors.items()}

    def end_all(self, now: datetime, reason: ResolveReason) -> list[Transition]:
        """The rule was removed or changed: every instance ends."""
        out: list[Transition] = []
        for instance in self.instances.values():
            out += resolve_now(replace(instance), now, reason)
        self.instances.clear()
        return out
