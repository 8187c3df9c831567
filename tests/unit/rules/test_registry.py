"""The registry swaps whole rule sets: a failed reload keeps the old set and records why."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from collector.rules.loader import load_rules
from collector.rules.registry import RuleRegistry
from collector.rules.ruleset import RuleSet

DATA = Path(__file__).resolve().parents[2] / "data"
DEFAULT = timedelta(seconds=5)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    shutil.copytree(DATA / "rules_ok", tmp_path / "rules")
    return tmp_path / "rules"


def loader(path: Path) -> Callable[[], RuleSet]:
    return lambda: load_rules([path], DEFAULT)


def break_file(rules_dir: Path) -> None:
    file = rules_dir / "checkout.yaml"
    file.write_text(file.read_text(encoding="utf-8").replace("tier: P1", "tier: P9"), encoding="utf-8")


def test_a_failed_reload_keeps_the_old_set_and_reports_its_problems(rules_dir: Path) -> None:
    registry = RuleRegistry(load_rules([rules_dir], DEFAULT), clock=Clock())
    before = registry.current()
    break_file(rules_dir)
    result = registry.reload(loader(rules_dir))
    assert not result.ok and not result.swapped
    assert registry.current() is before
    assert [(p.path, p.message) for p in result.problems] == [("rules[1].tier", "Input should be 'P0', 'P1' or 'P2'")]
    assert result.version == before.version
    assert (registry.last_success, registry.failures, registry.last_result) == (False, 1, result)


def test_a_good_reload_after_a_bad_one_swaps_and_clears_the_failure(rules_dir: Path) -> None:
    clock = Clock()
    registry = RuleRegistry(load_rules([rules_dir], DEFAULT), clock=clock)
    good_at = registry.last_success_at
    original = (rules_dir / "checkout.yaml").read_text(encoding="utf-8")
    break_file(rules_dir)
    registry.reload(loader(rules_dir))
    assert registry.last_success_at == good_at
    (rules_dir / "checkout.yaml").write_text(original.replace('"> 3%"', '"> 5%"'), encoding="utf-8")
    result = registry.reload(loader(rules_dir))
    assert result.ok and result.swapped and result.problems == ()
    assert result.changes is not None and result.changes.changed == ("CheckoutErrorRatio",)
    assert registry.current().version == result.version
    assert registry.last_success and registry.failures == 1
    assert registry.last_success_at == result.at and result.at > (good_at or result.at)


def test_subscribers_see_old_and_new_after_a_swap_only(rules_dir: Path) -> None:
    registry = RuleRegistry(load_rules([rules_dir], DEFAULT))
    seen: list[tuple[RuleSet, RuleSet]] = []
    registry.subscribe(lambda old, new: seen.append((old, new)))
    first = registry.current()
    registry.reload(loader(rules_dir))
    assert seen == []  # same files: nothing to swap
    (rules_dir / "more" / "logs.yml").unlink()
    result = registry.reload(loader(rules_dir))
    assert result.changes is not None and set(result.changes.removed) == {"ErrorLogs", "QueueSilent"}
    assert seen == [(first, registry.current())]
    break_file(rules_dir)
    registry.reload(loader(rules_dir))
    assert len(seen) == 1


def test_a_failing_subscriber_neither_fails_the_reload_nor_starves_the_others(rules_dir: Path) -> None:
    registry = RuleRegistry()
    got: list[int] = []

    def broken(old: RuleSet, new: RuleSet) -> None:
        raise RuntimeError("subscriber bug")

    registry.subscribe(broken)
    registry.subscribe(lambda old, new: got.append(len(new.rules())))
    result = registry.reload(loader(rules_dir))
    assert result.ok and result.swapped and got == [4]


def test_unsubscribe_stops_notifications(rules_dir: Path) -> None:
    registry = RuleRegistry()
    got: list[RuleSet] = []
    unsubscribe = registry.subscribe(lambda old, new: got.append(new))
    unsubscribe()
    registry.swap(load_rules([rules_dir], DEFAULT))
    assert got == []


def test_a_new_registry_starts_empty_and_never_failed() -> None:
    registry = RuleRegistry()
    assert registry.current().rules() == ()
    assert (registry.last_success, registry.last_result, registry.last_success_at) == (True, None, None)
