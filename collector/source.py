"""YAML files read with their positions: data plus a map from each value's path to `line:col`.

Config and rule loaders both read through here, so that every error, from YAML
syntax to a pydantic validation failure, can be reported as
`file:line:col: path: message`, all of them at once.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from collector.errors import Problem

PathKey = tuple[str | int, ...]

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def format_path(path: Sequence[str | int]) -> str:
    """`("rules", 2, "where", "service.name")` → `rules[2].where["service.name"]`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", part):
            out += f".{part}" if out else part
        else:
            out += f'["{part}"]'
    return out


@dataclass
class SourceDoc:
    """One parsed YAML document: its data and the position of every node, by path."""

    file: str
    data: Any
    marks: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    key_marks: dict[PathKey, tuple[int, int]] = field(default_factory=dict)

    def position(self, path: Sequence[str | int], *, key: bool = False) -> tuple[int, int]:
        """Position of the value at `path`, or of the nearest ancestor that has one."""
        p = tuple(path)
        while True:
            if key and p in self.key_marks:
                return self.key_marks[p]
            if p in self.marks:
                return self.marks[p]
            if not p:
                return (1, 1)
            p = p[:-1]

    def problem(self, path: Sequence[str | int], message: str, *, key: bool = False) -> Problem:
        line, col = self.position(path, key=key)
        return Problem(self.file, line, col, format_path(path), message)

    def validation_problems(self, error: ValidationError, prefix: Sequence[str | int] = ()) -> list[Problem]:
        """Turn a pydantic error into positioned problems. `prefix` is where the model's root sits."""
        problems = []
        errors = error.errors(include_url=False)
        locs = [tuple(p for p in e["loc"] if not _is_union_tag(p)) for e in errors]
        for err, own in zip(errors, locs, strict=True):
            # A list whose item failed is also "too short" once pydantic drops that item: say it once.
            if err["type"] == "too_short" and any(len(o) > len(own) and o[: len(own)] == own for o in locs):
                continue
            loc = tuple(prefix) + own
            msg = str(err["msg"])
            if err["type"] == "extra_forbidden":
                msg = "unknown key"
                problems.append(self.problem(loc, msg, key=True))
                continue
            if err["type"] == "missing":
                msg = "required key is missing"
            elif msg.startswith("Value error, "):
                msg = msg[len("Value error, ") :]
            elif msg.startswith("Assertion failed, "):
                msg = msg[len("Assertion failed, ") :]
            problems.append(self.problem(loc, msg))
        return problems


def _is_union_tag(part: Any) -> bool:
    # pydantic puts the chosen union member's type name into `loc`; users never wrote it.
    return isinstance(part, str) and (part.startswith("function-") or part in {"str", "int", "float", "list[str]"})


class _Collector:
    def __init__(self, file: str, env: Mapping[str, str]) -> None:
        self.file = file
        self.env = env
        self.doc = SourceDoc(file, None)
        self.problems: list[Problem] = []

    def _mark(self, node: yaml.Node) -> tuple[int, int]:
        return (node.start_mark.line + 1, node.start_mark.column + 1)

    def build(self, node: yaml.Node, path: PathKey) -> Any:
        self.doc.marks[path] = self._mark(node)
        if isinstance(node, yaml.MappingNode):
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    self.problems.append(
                        Problem(self.file, *self._mark(key_node), "", "YAML merge keys (<<) are not supported")
                    )
                    continue
                key = self._scalar(key_node, path, substitute=False)
                if isinstance(key, (list, dict)) or key is None:
                    self.problems.append(
                        Problem(self.file, *self._mark(key_node), format_path(path), "keys must be plain strings")
                    )
                    continue
                key = str(key) if not isinstance(key, (str, int)) or isinstance(key, bool) else key
                if isinstance(key, int):
                    key = str(key)
                child = (*path, key)
                if key in out:
                    self.problems.append(Problem(self.file, *self._mark(key_node), format_path(child), "duplicate key"))
                    continue
                self.doc.key_marks[child] = self._mark(key_node)
                out[key] = self.build(value_node, child)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        return self._scalar(node, path, substitute=True)

    def _scalar(self, node: yaml.Node, path: PathKey, *, substitute: bool) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            return self.build(node, path)
        value = (
            yaml.SafeLoader.construct_scalar(_LOADER, node) if node.tag == "tag:yaml.org,2002:str" else _construct(node)
        )
        if substitute and isinstance(value, str) and "${" in value:
            value = self._substitute(value, node, path)
        return value

    def _substitute(self, value: str, node: yaml.Node, path: PathKey) -> str:
        def repl(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if name in self.env:
                return self.env[name]
            if default is not None:
                return default
            self.problems.append(
                Problem(
                    self.file,
                    *self._mark(node),
                    format_path(path),
                    f"environment variable {name} is not set (use ${{{name}:-default}} for a default)",
                )
            )
            return ""

        return _ENV.sub(repl, value)


_LOADER = yaml.SafeLoader("")


def _construct(node: yaml.ScalarNode) -> Any:
    return _LOADER.construct_object(node, deep=True)


def parse_yaml(text: str, file: str, env: Mapping[str, str] | None = None) -> tuple[SourceDoc, list[Problem]]:
    """Parse one YAML document. Returns the doc (data is None on a syntax error) and problems."""
    collector = _Collector(file, os.environ if env is None else env)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        reason = exc.problem or str(exc)
        if exc.context:
            reason = f"{exc.context}: {reason}" if exc.problem else exc.context
        return SourceDoc(file, None), [Problem(file, line, col, "", f"YAML syntax error: {reason}")]
    except yaml.YAMLError as exc:
        return SourceDoc(file, None), [Problem(file, 1, 1, "", f"YAML error: {exc}")]
    if node is None:
        collector.doc.data = {}
        return collector.doc, []
    try:
        collector.doc.data = collector.build(node, ())
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        return SourceDoc(file, None), [Problem(file, line, col, "", f"YAML error: {exc.problem}")]
    return collector.doc, collector.problems


def read_yaml(path: Path, env: Mapping[str, str] | None = None) -> tuple[SourceDoc, list[Problem]]:
    """Read and parse a YAML file; an unreadable file is a problem at 1:1."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return SourceDoc(str(path), None), [Problem(str(path), 1, 1, "", f"cannot read file: {exc}")]
    return parse_yaml(text, str(path), env)


def yaml_files(paths: Iterable[Path]) -> list[Path]:
    """Expand folders into their `*.yaml` / `*.yml` files (sorted); keep files as given."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted(q for q in p.rglob("*") if q.suffix in {".yaml", ".yml"} and q.is_file()))
        else:
            out.append(p)
    return out
