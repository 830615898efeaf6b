"""`sitelens autoscale eval|check`: evaluate or validate a formula without a Batch account.

    sitelens autoscale check FILE [--strict]
        exit 0 when the formula parses within Azure's limits (findings go to stderr; --strict makes
        them fail too), 1 with Azure's error JSON on stdout otherwise
    sitelens autoscale eval --formula FILE [--history FILE.json] [--now ISO8601] [--seed N] [--lag S]
        exit 0 with the results string on stdout, or 1 with Azure's error JSON on stdout
    sitelens autoscale simulate --formula FILE --trace FILE [...]   (see autoscale/simulate_command.py)
    sitelens autoscale traces --out DIR [--seed N]

Unreadable files and malformed history files exit 2 with a message on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from autoscale import simulate_command
from autoscale.errors import FormulaError
from autoscale.evaluator import Formula, PoolState
from autoscale.history_file import HistoryFileError, read_history
from autoscale.samples import DEFAULT_LAG, Metrics

USAGE_ERROR = 2


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    group = subparsers.add_parser("autoscale", help="the Batch autoscale formula language, evaluated locally")
    sub = group.add_subparsers(dest="autoscale_command", metavar="COMMAND", required=True)
    ev = sub.add_parser("eval", help="evaluate a formula; prints Azure's results string or its error")
    ev.add_argument("--formula", type=Path, required=True, help="the formula file")
    ev.add_argument("--history", type=Path, help="pool state and metric samples (JSON; see docs/autoscale.md)")
    ev.add_argument("--now", type=_timestamp, help="evaluation time, ISO 8601 (default: the current time)")
    ev.add_argument("--seed", type=int, default=0, help="seed for rand() (default 0)")
    ev.add_argument("--lag", type=float, default=DEFAULT_LAG.total_seconds(),
                    help=f"seconds before a sample is visible (default {DEFAULT_LAG.total_seconds():g})")  # fmt: skip
    ev.set_defaults(handler=run_eval)
    check = sub.add_parser("check", help="validate a formula's syntax and Azure's limits")
    check.add_argument("file", type=Path, help="the formula file")
    check.add_argument("--strict", action="store_true", help="fail on findings too (likely mistakes)")
    check.set_defaults(handler=run_check)
    simulate_command.register(sub)


def _timestamp(text: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from exc
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def _print_error(exc: FormulaError) -> None:
    print(json.dumps(exc.as_dict(), indent=2))


# Input that cannot be used at all: an unreadable file, JSON that does not parse, a malformed history.
_BAD_INPUT = (OSError, UnicodeDecodeError, json.JSONDecodeError, HistoryFileError)


def run_check(args: argparse.Namespace) -> int:
    try:
        formula = Formula.parse(args.file.read_text(encoding="utf-8"))
    except _BAD_INPUT as exc:
        print(f"error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    except FormulaError as exc:
        _print_error(exc)
        return 1
    for finding in formula.warnings:
        print(f"{args.file}: {finding}", file=sys.stderr)
    print(f"{args.file}: OK ({len(formula.statements)} statements, {len(formula.text)} characters)")
    return 1 if args.strict and formula.warnings else 0


def run_eval(args: argparse.Namespace) -> int:
    now: datetime = args.now or datetime.now(UTC)
    try:
        text = args.formula.read_text(encoding="utf-8")
        pool, metrics = PoolState(), Metrics(lag=timedelta(seconds=args.lag))
        if args.history:
            pool, metrics = read_history(json.loads(args.history.read_text(encoding="utf-8")), now, metrics.lag)
    except _BAD_INPUT as exc:
        print(f"error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    try:
        run = Formula.parse(text).evaluate(pool, metrics, now=now, seed=args.seed)
    except FormulaError as exc:
        _print_error(exc)
        return 1
    if run.error is not None:
        _print_error(run.error)
        return 1
    print(run.results)
    return 0
