"""`sitelens plan`: the pool's knobs, node-hours and monthly cost for an expected load and a target wait.

    sitelens plan --photos-per-day N --p95 SECONDS [--burst-size N] [--burst-minutes M] [--work-hours 7-18]
        [--workdays-per-month D] [--vm-size NAME] [--price-per-hour USD] [--photos-per-node-s R]
        [--boot S] [--interval S] [--no-kick] [--json]

Exit 0 with the plan; 1 when no candidate meets the target p95 (the fastest is printed); 2 with a message
for an invalid option (a count of photos that is not a whole number of at least 1 among them). The
arithmetic and the search are in sitelens/plan.py; docs/autoscale.md ("Capacity planning") has the table of
sizes and where its prices come from.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any

from autoscale.simulate_command import DEFAULT_BOOT_S, MEASURED_PHOTOS_PER_NODE_S
from autoscale.simulation import MIN_INTERVAL_S, Settings
from sitelens.plan import DEFAULT_VM, SLOTS_PER_NODE, VM_SIZES, Load, Plan, plan

USAGE_ERROR = 2


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text} must be a positive number")
    return value


def _whole(text: str) -> int:
    """A count of photos: a whole number, at least 1 (a fraction would be planned as fewer photos, or none)."""
    value = _positive(text)
    if not value.is_integer():
        raise argparse.ArgumentTypeError(f"{text} must be a whole number of photos, at least 1")
    return int(value)


def _hours(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d{1,2})-(\d{1,2})", text.strip())
    if not match or not 0 <= int(match[1]) < int(match[2]) <= 24:
        raise argparse.ArgumentTypeError(f"working hours are START-END, 0 <= START < END <= 24, not {text!r}")
    return int(match[1]), int(match[2])


def _vm(text: str) -> str:
    if text.lower() not in VM_SIZES:
        raise argparse.ArgumentTypeError(
            f"unknown size {text!r}; sizes: {', '.join(s.name for s in VM_SIZES.values())}"
        )
    return text.lower()


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("plan", help="size the GPU pool for a load and a target wait, checked by simulation")
    p.add_argument("--photos-per-day", type=_whole, required=True)
    p.add_argument("--p95", type=_positive, required=True, help="target p95 seconds from upload to result")
    p.add_argument("--burst-size", type=_whole, default=100, help="photos per burst (default 100)")
    p.add_argument("--burst-minutes", type=_positive, default=10.0, help="a burst's length (default 10)")
    p.add_argument("--work-hours", type=_hours, default=(7, 18), help="START-END in UTC (default 7-18)")
    p.add_argument("--workdays-per-month", type=_positive, default=22.0)
    p.add_argument("--vm-size", type=_vm, default=DEFAULT_VM, help="an N-series size from the table")
    p.add_argument("--price-per-hour", type=_positive, help="USD per node-hour (default: the table's example)")
    p.add_argument("--photos-per-node-s", type=_positive, default=MEASURED_PHOTOS_PER_NODE_S,
                   help=f"a node's throughput (default {MEASURED_PHOTOS_PER_NODE_S:g}, measured)")  # fmt: skip
    p.add_argument("--boot", type=_positive, default=DEFAULT_BOOT_S, help="seconds from allocation to ready")
    p.add_argument("--interval", type=_positive, default=MIN_INTERVAL_S, help="seconds between evaluations")
    p.add_argument("--kick", action=argparse.BooleanOptionalAction, default=True,
                   help="autoscale re-enabled when a photo finds the pool empty, as deployed (default on)")  # fmt: skip
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=run_plan)


def run_plan(args: argparse.Namespace) -> int:
    if args.burst_size > args.photos_per_day:
        return _usage("--burst-size cannot exceed --photos-per-day")
    if args.interval < MIN_INTERVAL_S:
        return _usage(f"--interval must be at least {MIN_INTERVAL_S:g} s, as in Azure")
    start, end = args.work_hours
    if args.burst_minutes * 60 > (end - start) * 3600:
        return _usage("a burst cannot last longer than the working hours")
    load = Load(photos_per_day=args.photos_per_day, burst_size=args.burst_size,
                burst_minutes=args.burst_minutes, work_start_hour=start, work_end_hour=end,
                workdays_per_month=args.workdays_per_month)  # fmt: skip
    vm = VM_SIZES[args.vm_size]
    settings = Settings(interval_s=args.interval, boot_s=args.boot, slots=SLOTS_PER_NODE,
                        service_s=SLOTS_PER_NODE / args.photos_per_node_s, kick=args.kick)  # fmt: skip
    result = plan(load, target_p95_s=args.p95, vm=vm, price_per_hour=args.price_per_hour or vm.price_per_hour,
                  settings=settings, photos_per_node_s=args.photos_per_node_s)  # fmt: skip
    report = as_dict(result, args.p95, args.kick)
    print(json.dumps(report, indent=2) if args.json else text(report))
    return 0 if result.meets_target else 1


def as_dict(result: Plan, target: float, kick: bool) -> dict[str, Any]:
    return {
        "vm_size": result.vm.name, "price_per_hour": result.price_per_hour, "task_slots_per_node": result.slots,
        "knobs": result.knobs, "paper_nodes": result.paper_nodes, "max_nodes_tried": result.max_nodes_tried,
        "kick": kick, "target_p95_s": target,
        "meets_target": result.meets_target, "p95_s": result.result["time_to_result_s"]["p95"],
        "node_hours_per_day": round(result.node_hours_per_day, 2),
        "oracle_node_hours_per_day": result.result["oracle_node_hours"],
        "monthly_cost": round(result.monthly_cost, 2), "workdays_per_month": result.workdays_per_month,
    }  # fmt: skip


def text(r: dict[str, Any]) -> str:
    verdict = (
        "meets"
        if r["meets_target"]
        else f"CANNOT meet (no maxNodes up to {r['max_nodes_tried']} does; the fastest is shown)"
    )
    knobs = " ".join(f"{k}={v:g}" for k, v in r["knobs"].items())
    return "\n".join([
        f"pool: {r['vm_size']}, {r['task_slots_per_node']} task slots per node; the arithmetic says "
        f"{r['paper_nodes']} node(s) keep up with a burst and the day's average, kick {'on' if r['kick'] else 'off'}",
        f"knobs (Bicep parameters): {knobs}",
        f"simulated working day: p95 {r['p95_s']:.0f} s ({verdict} the target {r['target_p95_s']:.0f} s), "
        f"{r['node_hours_per_day']:.2f} node-hours (the oracle: {r['oracle_node_hours_per_day']:.2f})",
        f"monthly: {r['node_hours_per_day']:.2f} h x {r['workdays_per_month']:g} days x "
        f"{r['price_per_hour']:.3f} $/h = {r['monthly_cost']:.2f} $",
    ])  # fmt: skip


def _usage(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return USAGE_ERROR
