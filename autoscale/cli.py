"""`sitelens autoscale eval|check`: evaluate or validate a formula without a Batch account."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path

from autoscale.errors import FormulaError
from autoscale.evaluator import Formula, PoolState
from autoscale.samples import Metrics


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    group = subparsers.add_parser("autoscale", help="the Batch autoscale formula language")
    sub = group.add_subparsers(dest="autoscale_command", metavar="COMMAND", required=True)
    ev = sub.add_parser("eval", help="evaluate a formula; prints Azure's results string or its error")
    ev.add_argument("--formula", type=Path, required=True)
    ev.add_argument("--history", type=Path, help="pool state and metric samples (JSON; see docs/autoscale.md)")
    ev.add_argument("--now", help="evaluation time, ISO 8601 (default: now)")
    ev.add_argument("--seed", type=int, default=0, help="seed for rand()")
    ev.set_defaults(handler=run_eval)
    check = sub.add_parser("check", help="validate a formula's syntax and limits")
    check.add_argument("file", type=Path)
    check.set_defaults(handler=run_check)


def _print_error(exc: FormulaError) -> None:
    print(json.dumps(exc.as_dict(), indent=2))


def run_check(args: argparse.Namespace) -> int:
    try:
        formula = Formula.parse(args.file.read_text())
    except FormulaError as exc:
        _print_error(exc)
        return 1
    print(f"{args.file}: OK ({len(formula.statements)} statements, {len(formula.text)} characters)")
    return 0


def run_eval(args: argparse.Namespace) -> int:
    now = datetime.fromisoformat(args.now.replace("Z", "+00:00")) if args.now else datetime.now(UTC)
    now = now if now.tzinfo else now.replace(tzinfo=UTC)
    history = json.loads(args.history.read_text()) if args.history else {}
    p = history.get("pool", {})
    pool = PoolState(
        target_dedicated=int(p.get("targetDedicatedNodes", 0)),
        target_low_priority=int(p.get("targetLowPriorityNodes", 0)),
        current_dedicated=int(p.get("currentDedicatedNodes", 0)),
        current_low_priority=int(p.get("currentLowPriorityNodes", 0)),
        task_slots_per_node=int(p.get("taskSlotsPerNode", 1)),
    )
    metrics = Metrics.from_offsets(now, history.get("samples", {}))
    try:
        run = Formula.parse(args.formula.read_text()).evaluate(pool, metrics, now=now, seed=args.seed)
    except FormulaError as exc:
        _print_error(exc)
        return 1
    if run.error is not None:
        _print_error(run.error)
        return 1
    print(run.results)
    return 0
