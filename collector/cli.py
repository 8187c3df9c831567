"""The `vigil` command: run | check | version (and the subcommands the later stages add)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

from collector import __version__
from collector.errors import ConfigError, Problem, StorageError
from collector.settings import Settings, check_settings, load_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vigil", description="OTLP collector and tiered alerting daemon.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the daemon")
    run.add_argument("-c", "--config", type=Path, help="config file (default: built-in defaults)")
    run.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])

    check = sub.add_parser("check", help="validate config and rule files; exit 1 on any problem")
    check.add_argument("paths", nargs="*", type=Path, help="config files, rule files or folders (default: ./rules)")
    check.add_argument("--format", choices=["text", "json"], default="text")

    test = sub.add_parser("test", help="run rule unit tests (input series and expected alerts)")
    test.add_argument("files", nargs="+", type=Path, help="rule test files")

    from collector.backtest.command import add_parser as add_backtest

    add_backtest(sub)

    # Listed for `vigil --help` only: `main` hands everything after `demo` to the demo's own parser.
    sub.add_parser("demo", help="play a simulated shop against a running Vigil (vigil demo --help)", add_help=False)

    sub.add_parser("version", help="print the version")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["demo"]:
        from collector.demo.runner import main as demo  # the OTel SDK's imports are paid only by `demo`

        return demo(argv[1:])
    args = _parser().parse_args(argv)
    if args.command == "version":
        print(f"vigil {__version__}")
        return 0
    if args.command == "check":
        return _check(args.paths, args.format)
    if args.command == "test":
        from collector.ruletest.runner import main as run_tests

        return run_tests(args.files)
    if args.command == "backtest":
        from collector.backtest.command import run as backtest

        return backtest(args)
    if args.command == "run":
        return _run(args.config, args.log_level)
    raise AssertionError(f"unhandled command {args.command}")  # argparse rejects unknown commands first


def _one_line(what: str, problems: Sequence[Problem]) -> str:
    more = f" (and {len(problems) - 1} more; run `vigil check`)" if len(problems) > 1 else ""
    return f"vigil: invalid {what}: {problems[0]}{more}"


def _run(config: Path | None, level: str) -> int:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    # APScheduler logs every job run at INFO; Vigil logs what evaluations change.
    logging.getLogger("apscheduler").setLevel(max(logging.WARNING, logging.getLogger().level))
    try:
        settings = load_settings(config)
    except ConfigError as exc:
        print(_one_line("config", exc.problems), file=sys.stderr)
        return 2
    from collector.app import rule_paths, serve  # the daemon's imports are paid only by `run`
    from collector.rules.loader import load_rules

    base = config.parent if config is not None else Path.cwd()
    paths = rule_paths(settings, base)
    if config is None and not any(p.exists() for p in paths):
        logging.getLogger("vigil").warning("no ./rules folder: starting with no rules")
        paths = []
    try:
        rules = load_rules(paths, settings.evaluation.interval)
    except ConfigError as exc:
        print(_one_line("rules", exc.problems), file=sys.stderr)
        return 2
    from collector.notify import check_templates

    problems = check_templates(base / settings.templates, {r.template for r in settings.receivers})
    if problems:
        print(_one_line("templates", problems), file=sys.stderr)
        return 2
    try:
        asyncio.run(serve(settings, rules, base, config))
    except OSError as exc:
        print(f"vigil: cannot start: {exc}", file=sys.stderr)
        return 1
    except StorageError as exc:
        print(f"vigil: cannot start: {exc}", file=sys.stderr)
        return 1
    return 0


def _is_rule_file(path: Path) -> bool:
    """A rule file is a YAML mapping with a top-level `group` key; anything else is a config file."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        # Unreadable or broken: a .yaml under a rules-looking name is checked as rules, else as config.
        return "rule" in path.name
    return isinstance(data, dict) and "group" in data


def _check(paths: Sequence[Path], fmt: str) -> int:
    from collector.rules.loader import check_rules

    problems: list[Problem] = []
    if not paths:
        paths = [Path("rules")]
    rule_paths: list[Path] = []
    interval = Settings().evaluation.interval
    for path in paths:
        if path.is_dir() or _is_rule_file(path):
            rule_paths.append(path)
            continue
        found = check_settings(path)
        problems += found
        if not found:
            from collector.notify import check_templates

            settings = load_settings(path)
            interval = settings.evaluation.interval
            rule_paths += [path.parent / p for p in settings.rules]
            problems += check_templates(path.parent / settings.templates, {r.template for r in settings.receivers})
    if rule_paths:
        problems += check_rules(rule_paths, interval)
    problems.sort(key=lambda p: (p.file, p.line, p.col))
    if fmt == "json":
        rows = [{"file": p.file, "line": p.line, "col": p.col, "path": p.path, "message": p.message} for p in problems]
        print(json.dumps(rows, indent=2))
    else:
        for p in problems:
            print(p)
    return 1 if problems else 0
