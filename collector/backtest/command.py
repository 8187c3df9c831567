"""The `vigil backtest` command line (form fixed in DESIGN §2)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from collector.backtest.inputs import InputError, read_csv, read_otlp
from collector.backtest.replay import replay_csv, replay_otlp, report
from collector.errors import ConfigError
from collector.rules.loader import load_rules


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("backtest", help="replay a CSV series or recorded OTLP through rules; print what would fire")
    p.add_argument("--rules", type=Path, required=True, help="rule file (or folder)")
    p.add_argument("--rule", help="the rule to replay (required with --csv when the file has several)")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--csv", type=Path, help="timestamp,value rows (ISO-8601 or unix seconds)")
    source.add_argument("--otlp", type=Path, help="OTLP/JSON export requests, one per line")
    p.add_argument("--format", choices=["text", "jsonl"], default="text")
    p.add_argument("--scores", type=Path, help="write timestamp,value,expected,lower,upper,score,state per point")


def run(args: argparse.Namespace) -> int:
    try:
        rules = load_rules([args.rules], timedelta(seconds=10))
    except ConfigError as exc:
        for p in exc.problems:
            print(p, file=sys.stderr)
        return 1
    names = [r.name for r in rules.rules()]
    if args.rule is not None and args.rule not in names:
        print(f"vigil backtest: no rule {args.rule!r} in {args.rules} (has: {', '.join(names)})", file=sys.stderr)
        return 1
    try:
        if args.csv is not None:
            return _csv(args, rules.get(args.rule) if args.rule else None, names)
        if args.scores is not None:
            print("vigil backtest: --scores needs --csv (one series)", file=sys.stderr)
            return 1
        events = replay_otlp(rules, [args.rule] if args.rule else names, list(read_otlp(args.otlp)))
    except (InputError, OSError) as exc:
        print(f"vigil backtest: {exc}", file=sys.stderr)
        return 1
    report(events, args.format, sys.stdout)
    return 0


def _csv(args: argparse.Namespace, rule: object, names: Sequence[str]) -> int:
    from collector.rules.schema import Rule

    if rule is None:
        if len(names) != 1:
            print(f"vigil backtest: {args.rules} has {len(names)} rules; choose one with --rule", file=sys.stderr)
            return 1
        rule = load_rules([args.rules], timedelta(seconds=10)).rules()[0]
    assert isinstance(rule, Rule)
    points = read_csv(args.csv)
    scores = args.scores.open("w", newline="", encoding="utf-8") if args.scores else None
    try:
        events = replay_csv(rule, points, scores)
    finally:
        if scores is not None:
            scores.close()
    report(events, args.format, sys.stdout)
    return 0
