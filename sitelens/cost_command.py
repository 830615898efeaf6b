"""`sitelens cost`: what 1,000 photos cost end to end, by component, with the price table it used.

    sitelens cost [--ops FILE [--scenario NAME]] [--prices FILE] [--trace CSV] [--vm-size NAME]
        [--price-per-hour USD] [--no-kick] [--photo-mb MB] [--originals-days D] [--derived-days D]
        [--soft-delete-days D] [--results-days D] [--instance-gb GB] [--json]

Exit 0 with the breakdown; 2 with a message for an invalid option or an unreadable file. The arithmetic is
in sitelens/cost.py; docs/scale.md explains each component and where each price comes from.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from autoscale.simulate_command import DEFAULT_BOOT_S, MEASURED_PHOTOS_PER_NODE_S
from autoscale.simulation import MIN_INTERVAL_S, Settings
from autoscale.traces import TraceError
from sitelens.cost import (
    PRICES_AS_OF,
    Assumptions,
    CostInputError,
    PhotoOps,
    Prices,
    gpu_node_hours_per_photo,
    per_thousand,
    prices_dict,
)
from sitelens.plan import DEFAULT_VM, SLOTS_PER_NODE, VM_SIZES
from sitelens.plan_command import _positive, _vm

USAGE_ERROR = 2
REPO = Path(__file__).resolve().parents[1]
DEFAULT_TRACE = REPO / "benchmarks" / "traces" / "field-day.csv"

# The happy path per photo, measured by `python -m benchmarks.ops_per_photo` (docs/scale.md, 2026-12-07):
# requests by `service operation`, Batch calls, function runs and their milliseconds on the local stack.
MEASURED_HAPPY: dict[str, Any] = {
    "storage": {
        "blob Blob_Download": 3,
        "blob Blob_GetProperties": 2,
        "blob Blob_GetProperties -> 404": 1,
        "blob BlockBlob_CommitBlockList": 1,
        "blob BlockBlob_StageBlock": 1,
        "blob BlockBlob_Upload": 3,
        "queue MessageId_Delete": 2,
        "queue Messages_Enqueue": 2,
        "table Table_DeleteEntity": 2,
        "table Table_InsertEntity": 9,
        "table Table_QueryEntities": 3,
        "table Table_QueryEntitiesWithPartitionAndRowKey": 8,
        "table Table_QueryEntitiesWithPartitionAndRowKey -> 404": 2,
        "table Table_UpdateEntity": 9,
    },
    "batch": {"batch POST /jobs/{job}/tasks": 1},
    "executions": {
        "on_notification": 1,
        "on_photo_uploaded": 1,
        "on_task_completed": 1,
        "request_upload": 1,
    },
    "execution_ms": {
        "on_notification": 49.33,
        "on_photo_uploaded": 159.67,
        "on_task_completed": 77.0,
        "request_upload": 14.67,
    },
}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("cost", help="cost per 1,000 photos by component, from measured operations")
    p.add_argument("--ops", type=Path, help="a benchmarks/ops_per_photo JSON (default: the measured happy path)")
    p.add_argument(
        "--scenario",
        default="happy",
        help="which scenario of --ops (default happy; the file's keys: "
        "first_photo, happy, rejected, duplicate_content, redelivered, webhook_retry, task_retry)",
    )
    p.add_argument("--prices", type=Path, help="a JSON object replacing any of the example prices")
    p.add_argument("--trace", type=Path, default=DEFAULT_TRACE, help="arrivals CSV for the GPU node-hours")
    p.add_argument("--vm-size", type=_vm, default=DEFAULT_VM, help="an N-series size from sitelens plan's table")
    p.add_argument("--price-per-hour", type=_positive, help="USD per node-hour (default: the table's example)")
    p.add_argument("--kick", action=argparse.BooleanOptionalAction, default=True,
                   help="simulate the pool kick the deployment wires (default on; --no-kick without it)")  # fmt: skip
    p.add_argument("--photo-mb", type=_positive, default=Assumptions.photo_mb)
    p.add_argument("--originals-days", type=_positive, default=Assumptions.originals_days)
    p.add_argument("--derived-days", type=_positive, default=Assumptions.derived_days)
    p.add_argument("--soft-delete-days", type=_positive, default=Assumptions.soft_delete_days)
    p.add_argument("--results-days", type=_positive, default=Assumptions.results_days,
                   help="days results/ keep an overlay: resultsRetentionDays (default 90)")  # fmt: skip
    p.add_argument("--instance-gb", type=_positive, default=Assumptions.instance_gb, help="Flex instance memory")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=run_cost)


def run_cost(args: argparse.Namespace) -> int:
    try:
        prices = Prices.from_file(args.prices) if args.prices else Prices()
        ops = PhotoOps.from_file(args.ops, args.scenario) if args.ops else PhotoOps.from_scenario(MEASURED_HAPPY)
        settings = Settings(interval_s=MIN_INTERVAL_S, boot_s=DEFAULT_BOOT_S, slots=SLOTS_PER_NODE,
                            service_s=SLOTS_PER_NODE / MEASURED_PHOTOS_PER_NODE_S, kick=args.kick)  # fmt: skip
        node_hours, photos = gpu_node_hours_per_photo(args.trace, settings)
    except (CostInputError, TraceError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    vm = VM_SIZES[args.vm_size]
    hourly = args.price_per_hour or vm.price_per_hour
    assume = Assumptions(photo_mb=args.photo_mb, originals_days=args.originals_days, derived_days=args.derived_days,
                         soft_delete_days=args.soft_delete_days, results_days=args.results_days,
                         instance_gb=args.instance_gb)  # fmt: skip
    parts = per_thousand(ops, prices, assume, node_hours, hourly)
    gpu = {"vm_size": vm.name, "price_per_hour": hourly, "trace": args.trace.name, "trace_photos": photos,
           "kick": args.kick, "node_hours_per_1000_photos": round(1000 * node_hours, 3),
           "tasks_per_photo": ops.tasks}  # fmt: skip
    report = {
        "per_1000_photos_usd": {k: round(v, 4) for k, v in parts.items()},
        "total_usd": round(sum(parts.values()), 4),
        "operations_per_photo": ops.__dict__,
        "gpu": gpu,
        "prices": prices_dict(prices),
        "prices_as_of": PRICES_AS_OF,
        "assumptions": assume.__dict__,
    }
    print(json.dumps(report, indent=2) if args.json else text(report))
    return 0


def text(r: dict[str, Any]) -> str:
    parts: dict[str, float] = r["per_1000_photos_usd"]
    total = r["total_usd"] or 1.0
    lines = [f"cost per 1,000 photos (USD, example prices of {r['prices_as_of']}; docs/scale.md)"]
    lines += [f"  {name:<22}{value:>10.4f}  {100 * value / total:5.1f} %" for name, value in parts.items()]
    lines.append(f"  {'total':<22}{r['total_usd']:>10.4f}")
    g = r["gpu"]
    lines.append(
        f"GPU: {g['node_hours_per_1000_photos']:.3f} node-hours per 1,000 photos (the deployed formula "
        f"simulated on {g['trace']}, {g['trace_photos']} photos, kick {'on' if g['kick'] else 'off'}) x "
        f"{g['tasks_per_photo']:g} Batch task(s) per photo x {g['price_per_hour']:.3f} $/h ({g['vm_size']})"
    )
    a = r["assumptions"]
    lines.append(f"stored: {a['photo_mb']:g} MB a copy; originals {a['originals_days']:g} days, derived inputs "
                 f"{a['derived_days']:g} days, overlays {a['results_days']:g} days, each then "
                 f"{a['soft_delete_days']:g} days soft-deleted (hot blob price as given: LRS unless "
                 "--prices)")  # fmt: skip
    lines.append("prices: " + ", ".join(f"{k}={v:g}" for k, v in r["prices"].items()))
    return "\n".join(lines)
