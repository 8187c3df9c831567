"""Runs rule test files: feeds each case's series through the real store and evaluator, compares alerts, diffs."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import ValidationError

from collector.errors import ConfigError, Problem
from collector.evaluate.rulerun import RuleRun
from collector.rules.loader import load_rules
from collector.rules.ruleset import RuleGroup, RuleSet
from collector.ruletest.spec import Case, ExpectedAlert, TestFile
from collector.ruletest.synth import batches
from collector.source import read_yaml
from collector.store.hub import Store

# Tests run on a simulated clock that starts on a Monday at midnight UTC (seasonal baselines see whole days).
EPOCH = datetime(2026, 1, 5, tzinfo=UTC)
_NS = 1_000_000_000


@dataclass
class CaseResult:
    file: str
    name: str
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


def _ns(t: datetime) -> int:
    return int(t.timestamp() * _NS)


def load_test_file(path: Path) -> TestFile:
    doc, problems = read_yaml(path)
    if doc.data is None or problems:
        raise ConfigError(problems)
    try:
        return TestFile.model_validate(doc.data)
    except ValidationError as exc:
        raise ConfigError(doc.validation_problems(exc)) from None


def _describe(name: str, state: str, labels: dict[str, str]) -> str:
    inner = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{state} {name} {{{inner}}}"


def _expected(alerts: Sequence[ExpectedAlert]) -> list[str]:
    return sorted(_describe(a.alertname, a.state, dict(a.labels)) for a in alerts)


def _actual(runs: Sequence[RuleRun]) -> list[str]:
    out = []
    for run in runs:
        for i in run.instances.values():
            labels = {k: v for k, v in i.labels.items() if k not in ("alertname", "tier")}
            out.append(_describe(run.rule.name, i.phase.value, labels))
    return sorted(out)


def run_case(case: Case, rules: RuleSet, interval: timedelta | None, file: str) -> CaseResult:
    result = CaseResult(file, case.name)
    store = Store(traces=None, max_series_per_rule=100_000, max_series=1_000_000)
    store.set_selectors(rules.selectors(), {r.name: r.window for r in rules.rules()})
    groups: list[tuple[RuleGroup, timedelta, list[RuleRun]]] = [
        (g, interval or g.interval, [RuleRun(r, g.name) for r in g.rules]) for g in rules.groups
    ]
    slot = min([every for _, every, _ in groups] + [case.interval])
    feed = sorted(batches(case, EPOCH, slot), key=lambda t: t.ready_ns)
    end = case.expect[-1].at
    checks = list(case.expect)
    fed = 0
    t = timedelta(0)
    while t <= end:
        now = EPOCH + t
        while fed < len(feed) and feed[fed].ready_ns <= _ns(now):
            store.consume(feed[fed].batch)
            fed += 1
        for _, every, runs in groups:
            if t % every == timedelta(0):
                for run in runs:
                    start = now - run.rule.window
                    run.evaluate(store.query(run.rule.name, _ns(start), _ns(now)), now)
        while checks and checks[0].at <= t:
            check = checks.pop(0)
            want, got = _expected(check.alerts), _actual([r for _, _, runs in groups for r in runs])
            if want != got:
                diff = difflib.unified_diff(want, got, "expected", "got", lineterm="", n=len(want) + len(got))
                body = "\n".join("      " + line for line in list(diff)[2:] if not line.startswith("@@"))
                result.failures.append(f"at {_fmt(check.at)}:\n{body}")
        t += slot
    return result


def _fmt(d: timedelta) -> str:
    seconds = int(d.total_seconds())
    return f"{seconds // 3600}h{seconds % 3600 // 60}m{seconds % 60}s".removeprefix("0h").removeprefix("0m")


def run_files(paths: Sequence[Path], default_interval: timedelta) -> tuple[list[CaseResult], list[Problem]]:
    """Every case of every file; problems are files that could not be loaded (reported, counted as failures)."""
    results: list[CaseResult] = []
    problems: list[Problem] = []
    for path in paths:
        try:
            spec = load_test_file(path)
            rule_paths = [path.parent / p for p in spec.rule_files]
            rules = load_rules(rule_paths, default_interval)
        except ConfigError as exc:
            problems += exc.problems
            continue
        for case in spec.tests:
            results.append(run_case(case, rules, spec.evaluation_interval, str(path)))
    return results, problems


def main(paths: Sequence[Path]) -> int:
    results, problems = run_files(paths, timedelta(seconds=10))
    problems.sort(key=lambda p: (p.file, p.line, p.col))
    for p in problems:
        print(p)
    for r in results:
        print(f"{'PASS' if r.ok else 'FAIL'}  {r.file}: {r.name}")
        for failure in r.failures:
            print(f"    {failure}")
    failed = sum(not r.ok for r in results)
    print(f"{len(results) - failed} passed, {failed} failed" + (f", {len(problems)} problems" if problems else ""))
    return 1 if failed or problems else 0
