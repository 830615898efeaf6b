"""`sitelens autoscale simulate` and `sitelens autoscale traces`: what a formula costs on a trace of photos.

    sitelens autoscale simulate --formula FILE --trace FILE [--interval S] [--boot S] [--slots N]
        [--service-time S | --photos-per-node-s R] [--param NAME=VALUE]... [--kick]
        [--phase S] [--start ISO8601] [--json] [--plot OUT.png]
    sitelens autoscale traces --out DIR [--seed N]

Exit 0 with the table (or one JSON object); 1 when the formula does not parse; 2 with a message for an
invalid option, an unreadable or malformed trace, or an unknown knob.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from datetime import UTC, datetime
from pathlib import Path

from autoscale.errors import FormulaError
from autoscale.evaluator import Formula
from autoscale.knobs import KnobError, parse_assignment, with_knobs
from autoscale.report import oracle_for, summary, table
from autoscale.simulation import MIN_INTERVAL_S, Settings, simulate
from autoscale.traces import REFERENCES, TraceError, read_trace, write_trace

USAGE_ERROR = 2
MAX_INTERVAL_S = 168 * 3600.0
# A node's throughput (photos/s with 4 tasks at a time) measured in docs/performance.md: the CPU node, 12 MP.
MEASURED_PHOTOS_PER_NODE_S = 2.04
# An N-series node from allocation to its start task done: docs/autoscale.md ("Timing figures").
DEFAULT_BOOT_S = 600.0


def _number(low: float, high: float = float("inf"), *, above: bool = False) -> type[float]:
    def convert(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not (low < value if above else low <= value) or not value <= high:
            bound = f"above {low:g}" if above else f"at least {low:g}"
            limit = f" and at most {high:g}" if math.isfinite(high) else ""
            raise argparse.ArgumentTypeError(f"{text} must be {bound}{limit}")
        return value

    return convert  # type: ignore[return-value]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sim = sub.add_parser("simulate", help="simulate a pool run by a formula on a trace of photo arrivals")
    sim.add_argument("--formula", type=Path, required=True)
    sim.add_argument("--trace", type=Path, required=True, help="CSV with a header and a column t (seconds)")
    sim.add_argument("--interval", type=_number(MIN_INTERVAL_S, MAX_INTERVAL_S), default=MIN_INTERVAL_S,
                     help="seconds between evaluations (default 300, Azure's minimum)")  # fmt: skip
    sim.add_argument("--boot", type=_number(0), default=DEFAULT_BOOT_S,
                     help=f"seconds from allocation to a ready node (default {DEFAULT_BOOT_S:g})")  # fmt: skip
    sim.add_argument("--slots", type=_number(1, 256), default=4, help="task slots per node (default 4)")
    speed = sim.add_mutually_exclusive_group()
    speed.add_argument("--service-time", type=_number(0, above=True), help="seconds one task runs")
    speed.add_argument("--photos-per-node-s", type=_number(0, above=True),
                       help=f"a full node's photos per second (default {MEASURED_PHOTOS_PER_NODE_S:g})")  # fmt: skip
    sim.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="set a knob of the formula")
    sim.add_argument("--kick", action="store_true", help="re-enable autoscale when a photo finds the pool empty")
    sim.add_argument("--phase", type=_number(0), default=0.0, help="seconds to the first evaluation")
    sim.add_argument("--start", type=_start, default=Settings().start, help="the trace's t=0, ISO 8601")
    sim.add_argument("--json", action="store_true", help="print one JSON object")
    sim.add_argument("--plot", type=Path, help="write a PNG of the run")
    sim.set_defaults(handler=run_simulate)
    traces = sub.add_parser("traces", help="write the seeded reference traces as CSV")
    traces.add_argument("--out", type=Path, required=True)
    traces.add_argument("--seed", type=int, default=1)
    traces.set_defaults(handler=run_traces)


def _start(text: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from exc
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def settings_from(args: argparse.Namespace) -> Settings:
    slots = int(args.slots)
    if args.service_time is not None:
        service = float(args.service_time)
    else:
        service = slots / float(args.photos_per_node_s or MEASURED_PHOTOS_PER_NODE_S)
    return Settings(interval_s=args.interval, boot_s=args.boot, slots=slots, service_s=service, kick=args.kick,
                    phase_s=args.phase, start=args.start)  # fmt: skip


def run_simulate(args: argparse.Namespace) -> int:
    if args.slots != int(args.slots):
        return _usage(f"--slots must be a whole number, not {args.slots:g}")
    try:
        text = args.formula.read_text(encoding="utf-8")
        text = with_knobs(text, dict(parse_assignment(p) for p in args.param))
        arrivals = read_trace(args.trace)
    except (OSError, UnicodeDecodeError, TraceError, KnobError) as exc:
        return _usage(str(exc))
    try:
        formula = Formula.parse(text)
    except FormulaError as exc:
        print(json.dumps(exc.as_dict(), indent=2))
        return 1
    settings = settings_from(args)
    run = simulate(formula, arrivals, settings)
    best = oracle_for(arrivals, settings)
    result = summary(arrivals, run, best, settings)
    print(json.dumps(result, indent=2) if args.json else table(result))
    if args.plot:
        from autoscale.plot import plot_run  # noqa: PLC0415 - matplotlib only when asked for

        plot_run(args.plot, arrivals, run, best, f"{args.formula.name} on {args.trace.name}")
    return 0


def run_traces(args: argparse.Namespace) -> int:
    for name, generate in REFERENCES.items():
        count = write_trace(args.out / f"{name}.csv", generate(args.seed))
        print(f"{args.out / (name + '.csv')}: {count} photos")
    return 0


def _usage(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return USAGE_ERROR
