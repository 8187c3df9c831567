"""Rule files → a RuleSet, or every problem of every file at once as `file:line:col: path: message`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from collector.errors import ConfigError, Problem
from collector.rules.ruleset import RuleGroup, RuleSet
from collector.rules.schema import RuleFile
from collector.source import SourceDoc, read_yaml, yaml_files

__all__ = ["RuleGroup", "RuleSet", "check_rules", "load_rules"]


def load_rules(paths: Sequence[Path], default_interval: timedelta) -> RuleSet:
    """Read rule files and folders (every *.yaml / *.yml inside). Raises ConfigError carrying every problem."""
    groups, problems = _load(paths, default_interval)
    if problems:
        raise ConfigError(sorted(problems, key=lambda p: (p.file, p.line, p.col, p.path, p.message)))
    return RuleSet(tuple(groups))


def check_rules(paths: Sequence[Path], default_interval: timedelta) -> list[Problem]:
    """Every problem in the rule files, sorted by file, line and column; empty when they load."""
    try:
        load_rules(paths, default_interval)
    except ConfigError as exc:
        return list(exc.problems)
    return []


class _Names:
    """First place each name was seen, so that a duplicate can point back at it."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.first: dict[str, str] = {}

    def see(self, doc: SourceDoc, path: tuple[str | int, ...], name: Any) -> Problem | None:
        if not isinstance(name, str) or not name:
            return None
        line, _ = doc.position(path)
        if name in self.first:
            return doc.problem(path, f"duplicate {self.what} {name!r}, first defined at {self.first[name]}")
        self.first[name] = f"{doc.file}:{line}"
        return None


def _files(paths: Sequence[Path]) -> tuple[list[Path], list[Problem]]:
    problems: list[Problem] = []
    files: list[Path] = []
    seen: set[Path] = set()
    for path in paths:
        if not path.exists():
            problems.append(Problem(str(path), 1, 1, "", "no such file or folder"))
            continue
        for file in yaml_files([path]):
            # `rules/` and `rules/http.yaml` both given must not make every rule a duplicate of itself.
            if file.resolve() not in seen:
                seen.add(file.resolve())
                files.append(file)
    return files, problems


def _load(paths: Sequence[Path], default_interval: timedelta) -> tuple[list[RuleGroup], list[Problem]]:
    files, problems = _files(paths)
    groups: list[RuleGroup] = []
    rule_names, group_names = _Names("rule name"), _Names("group name")
    for file in files:
        doc, read_problems = read_yaml(file)
        problems += read_problems
        if doc.data is None or doc.data == {}:
            # A syntax error was reported above; an empty file (all commented out) holds no rules.
            continue
        if not isinstance(doc.data, dict):
            problems.append(doc.problem((), "a rule file is a mapping with group, interval and rules"))
            continue
        # Names are checked on the raw data so that duplicates show even in files with other problems.
        problems += _duplicates(doc, rule_names, group_names)
        try:
            spec = RuleFile.model_validate(doc.data)
        except ValidationError as exc:
            problems += doc.validation_problems(exc)
            continue
        groups.append(RuleGroup(spec.group, doc.file, spec.interval or default_interval, spec.rules))
    return groups, problems


def _duplicates(doc: SourceDoc, rule_names: _Names, group_names: _Names) -> list[Problem]:
    found = [group_names.see(doc, ("group",), doc.data.get("group"))]
    rules = doc.data.get("rules")
    if isinstance(rules, list):
        for i, rule in enumerate(rules):
            if isinstance(rule, dict):
                found.append(rule_names.see(doc, ("rules", i, "name"), rule.get("name")))
    return [p for p in found if p is not None]
