"""Loading rule files: every problem of every file at once, positioned; valid files become a RuleSet."""

from __future__ import annotations

import os
import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from collector.errors import ConfigError
from collector.rules.loader import check_rules, load_rules

ROOT = Path(__file__).resolve().parents[3]
BROKEN = Path("tests/data/rules_broken")
GOLDEN = ROOT / BROKEN / "expected.txt"
DEFAULT = timedelta(seconds=5)


@pytest.fixture(autouse=True)
def _at_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    # Problems name files as given, as `vigil check tests/data/rules_broken` would print them.
    monkeypatch.chdir(ROOT)


def test_broken_files_report_exactly_the_golden_output() -> None:
    text = "".join(f"{p}\n" for p in check_rules([BROKEN], DEFAULT))
    if os.environ.get("VIGIL_UPDATE_GOLDEN"):
        GOLDEN.write_text(text, encoding="utf-8")
    assert text == GOLDEN.read_text(encoding="utf-8")


def test_every_broken_file_is_reported_in_one_call_sorted_by_position() -> None:
    problems = check_rules([BROKEN], DEFAULT)
    files = {p.file for p in problems}
    assert files == {str(f) for f in BROKEN.glob("*.yaml")}
    keys = [(p.file, p.line, p.col) for p in problems]
    assert keys == sorted(keys)


def test_load_raises_config_error_carrying_every_problem() -> None:
    with pytest.raises(ConfigError) as info:
        load_rules([BROKEN], DEFAULT)
    assert list(info.value.problems) == check_rules([BROKEN], DEFAULT)
    assert str(info.value).splitlines() == [str(p) for p in info.value.problems]


def test_example_rules_load_without_problems() -> None:
    assert check_rules([Path("rules")], DEFAULT) == []
    rules = load_rules([Path("rules")], DEFAULT).rules()
    assert {r.tier for r in rules} == {"P0", "P1", "P2"}
    assert {r.condition.kind for r in rules} == {"threshold", "baseline", "absent"}
    assert {r.select.signal.value for r in rules} == {"spans", "metrics", "logs"}


def test_folders_are_read_recursively_and_groups_default_their_interval() -> None:
    ruleset = load_rules([Path("tests/data/rules_ok")], timedelta(seconds=7))
    intervals = {g.name: g.interval for g in ruleset.groups}
    assert intervals == {"checkout": timedelta(seconds=7), "logs": timedelta(minutes=1)}
    files = [g.file for g in ruleset.groups]
    assert files == ["tests/data/rules_ok/checkout.yaml", "tests/data/rules_ok/more/logs.yml"]


def test_a_missing_path_is_a_problem_and_other_files_are_still_checked() -> None:
    problems = check_rules([Path("tests/data/no-such-rules"), BROKEN / "02-schema.yaml"], DEFAULT)
    missing = [str(p) for p in problems if p.file == "tests/data/no-such-rules"]
    assert missing == ["tests/data/no-such-rules:1:1: no such file or folder"]
    assert {p.file for p in problems} == {"tests/data/no-such-rules", str(BROKEN / "02-schema.yaml")}


def test_an_empty_folder_holds_no_rules(tmp_path: Path) -> None:
    assert load_rules([tmp_path], DEFAULT).rules() == ()


def test_a_file_given_twice_is_read_once() -> None:
    ok = Path("tests/data/rules_ok")
    ruleset = load_rules([ok, ok / "checkout.yaml"], DEFAULT)
    assert len(ruleset.rules()) == 4


def test_a_rule_file_that_is_not_a_mapping_is_a_problem(tmp_path: Path) -> None:
    (tmp_path / "list.yaml").write_text("- name: A\n  tier: P0\n", encoding="utf-8")
    [problem] = check_rules([tmp_path], DEFAULT)
    assert (problem.line, problem.col) == (1, 1)
    assert "mapping with group" in problem.message


def test_duplicate_rule_name_names_the_first_definition(tmp_path: Path) -> None:
    shutil.copy(ROOT / "tests/data/rules_ok/checkout.yaml", tmp_path / "a.yaml")
    text = (ROOT / "tests/data/rules_ok/checkout.yaml").read_text(encoding="utf-8")
    (tmp_path / "b.yaml").write_text(text.replace("group: checkout", "group: checkout-copy"), encoding="utf-8")
    problems = [str(p).replace(f"{tmp_path}/", "") for p in check_rules([tmp_path], DEFAULT)]
    assert problems == [
        "b.yaml:4:11: rules[0].name: duplicate rule name 'CheckoutErrorRatio', first defined at a.yaml:4",
        "b.yaml:25:11: rules[1].name: duplicate rule name 'CheckoutLatency', first defined at a.yaml:25",
    ]
