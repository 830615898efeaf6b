"""What 1,000 photos cost end to end, by component: the measured requests per photo times a dated price table.

Requests per photo come from `benchmarks/ops_per_photo` (Azurite's, the Batch service's and the Functions
host's own logs; docs/scale.md has the table): by default the happy-path figures below, measured on the
local stack, or a scenario of a fresh `.local/benchmarks/ops_per_photo.json`. GPU time is the simulator's:
the deployed autoscale formula, with the pool kick the deployment wires, run on a reference trace
(node-hours per photo of that day, idle time included), priced by the VM table of `sitelens.plan`, for each
Batch task the scenario adds (a photo that never reaches Batch costs no GPU time). What a photo stores is
read from its writes and kept as long as the lifecycle rules of `infra/modules/storage.bicep` keep it. Every
price is an example with its source and date, and a JSON file can replace any of them
(`sitelens cost --prices FILE`).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from autoscale import Formula
from autoscale.report import oracle_for, summary
from autoscale.simulation import Settings, simulate
from autoscale.traces import read_trace
from sitelens.plan import FORMULA

PRICES_AS_OF = "2026-12-06"
# Functions the queue trigger runs (function_app.py): each took one message, so one dequeue per run.
QUEUE_TRIGGERED = ("on_task_completed", "on_notification")
BLOB_TRIGGERED = ("on_photo_uploaded",)  # an Event Grid delivery each in Azure
# Each such delivery is queued on the host's trigger queue `azure-webjobs-blobtrigger-{hostId}`, in the app's
# storage account (AzureWebJobsStorage), and taken from it: Put Message, Get Messages, Delete Message. The local
# host finds blobs by scanning and its trigger queue is counted apart (emulators/request_counter.py), so the
# measurement lacks them; a failed try adds more (the message released and taken again), not counted here.
TRIGGER_QUEUE_OPS_PER_DELIVERY = 3
BLOB_READS = frozenset({"Blob_Download", "Blob_GetProperties", "Blob_GetMetadata", "Container_GetProperties",
                        "Blob_GetTags"})  # fmt: skip
FREE_BLOB_OPERATIONS = frozenset({"Blob_Delete", "Container_Delete"})  # Delete is not billed for hot blobs
TASK_ADDED = "batch POST /jobs/{job}/tasks"  # one Add Task: the photo's GPU run (a refused one has a status)
ORIGINAL_WRITE = "BlockBlob_CommitBlockList"  # the device's upload ends with Put Block List: photos/
QUARANTINE_WRITES = frozenset({"Blob_StartCopyFromURL", "Blob_CopyFromURL"})  # a reject copied to quarantine/
PUT_BLOB = "BlockBlob_Upload"  # derived/{job}/input.jpg, and the node's overlay.jpg and result.json
PUT_BLOBS_PER_TASK = 2  # the node's results/{job}/overlay.jpg and result.json
# Flex Consumption bills each execution at least a second, then rounded up to the next 100 ms.
MIN_BILLED_MS, BILLED_STEP_MS = 1000.0, 100.0
DAYS_PER_MONTH = 365.0 / 12
SECTIONS = ("storage", "batch", "executions", "execution_ms")


class CostInputError(ValueError):
    """A price file or an operations file the command cannot use; the message says why."""


@dataclass(frozen=True)
class Prices:
    """USD, East US, pay-as-you-go, examples read on PRICES_AS_OF; docs/scale.md gives each one's page."""

    blob_write_per_10k: float = 0.065  # hot, LRS: Put Block, Put Block List, Put Blob, Copy, Set Metadata
    blob_read_per_10k: float = 0.005  # hot, LRS: Get Blob, Get Blob Properties
    blob_list_per_10k: float = 0.065  # hot, LRS: List Blobs and create-container class
    blob_gb_month: float = 0.0208  # hot, LRS, first 50 TB (infra/ deploys ZRS by default: pass its price)
    queue_per_10k: float = 0.004  # queue, LRS, class 1 and 2 alike
    table_per_10k: float = 0.00036  # table, LRS, any transaction
    functions_per_million: float = 0.40  # Flex Consumption, on demand executions
    functions_gb_s: float = 0.000026  # Flex Consumption, on demand execution time
    event_grid_per_million: float = 0.60  # basic tier operations (publish, delivery attempt)
    egress_per_gb: float = 0.087  # internet egress from the region, after the free 100 GB a month

    @classmethod
    def from_file(cls, path: Path) -> Prices:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CostInputError(f"cannot read prices from {path}: {exc}") from exc
        if not isinstance(doc, dict):
            raise CostInputError(f"{path}: a JSON object of price names to numbers is expected")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(doc) - known)
        if unknown:
            raise CostInputError(f"{path}: unknown price(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        for name, value in doc.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf:
                raise CostInputError(f"{path}: {name} must be a number >= 0, not {value!r}")
        return replace(cls(), **{k: float(v) for k, v in doc.items()})


@dataclass(frozen=True)
class PhotoOps:
    """Billable operations per photo, in the classes the price table uses, and what the photo runs and stores."""

    blob_writes: float
    blob_reads: float
    blob_lists: float
    queue_ops: float
    table_ops: float
    executions: float
    execution_s: float  # measured
    event_grid_ops: float
    webhooks: float
    billed_execution_s: float  # the measured seconds under Flex Consumption's floor and rounding
    tasks: float  # Batch tasks added: GPU runs
    originals: float  # photos/ blobs written
    quarantined: float  # rejects copied to quarantine/ (their original deleted at once)
    derived: float  # derived/ task inputs written

    @classmethod
    def from_scenario(cls, scenario: Any) -> PhotoOps:
        """From one scenario of the benchmark's JSON (requests per photo by `service operation`)."""
        if not isinstance(scenario, dict):
            raise CostInputError("a scenario of benchmarks/ops_per_photo must be a JSON object")
        storage, batch, runs, ms = (_counts(scenario, section) for section in SECTIONS)
        by = {"blob_writes": 0.0, "blob_reads": 0.0, "blob_lists": 0.0, "queue_ops": 0.0, "table_ops": 0.0}
        for kind, count in storage.items():
            service, operation = kind.split(" ")[:2]
            if service == "table":
                by["table_ops"] += count
            elif service == "queue":
                by["queue_ops"] += count
            elif operation in FREE_BLOB_OPERATIONS:
                continue
            elif operation in BLOB_READS:
                by["blob_reads"] += count
            elif operation.split("_", 1)[-1].startswith("List"):  # List Blobs, List Containers
                by["blob_lists"] += count
            else:
                by["blob_writes"] += count
        # A queue trigger's Get Messages is counted apart from the photo's (it polls); one per message taken.
        by["queue_ops"] += sum(v for k, v in runs.items() if k.split(" ")[0] in QUEUE_TRIGGERED)
        deliveries = sum(v for k, v in runs.items() if k.split(" ")[0] in BLOB_TRIGGERED)
        by["queue_ops"] += TRIGGER_QUEUE_OPS_PER_DELIVERY * deliveries  # the Event Grid delivery's trigger queue
        tasks = batch.get(TASK_ADDED, 0.0)
        return cls(**by, executions=sum(runs.values()), execution_s=sum(ms.values()) / 1000.0,
                   event_grid_ops=2 * deliveries,  # the event's publish and its delivery
                   webhooks=sum(v for k, v in runs.items() if k.split(" ")[0] == "on_notification"),
                   billed_execution_s=billed_seconds(runs, ms), tasks=tasks,
                   originals=storage.get(f"blob {ORIGINAL_WRITE}", 0.0),
                   quarantined=sum(storage.get(f"blob {op}", 0.0) for op in QUARANTINE_WRITES),
                   derived=max(0.0, storage.get(f"blob {PUT_BLOB}", 0.0) - PUT_BLOBS_PER_TASK * tasks))  # fmt: skip

    @classmethod
    def from_file(cls, path: Path, scenario: str) -> PhotoOps:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CostInputError(f"cannot read operations from {path}: {exc}") from exc
        scenarios = doc.get("scenarios") if isinstance(doc, dict) else None
        if not isinstance(scenarios, dict):
            raise CostInputError(f"{path}: no 'scenarios' object, as benchmarks/ops_per_photo writes")
        if scenario not in scenarios:
            raise CostInputError(f"{path} has no scenario {scenario!r}; scenarios: {', '.join(scenarios) or 'none'}")
        try:
            return cls.from_scenario(scenarios[scenario])
        except CostInputError as exc:
            raise CostInputError(f"{path}, scenario {scenario!r}: {exc}") from None


def _counts(scenario: dict[str, Any], section: str) -> dict[str, float]:
    """One section of a scenario: names to counts (or milliseconds), each a number >= 0."""
    if section not in scenario:
        raise CostInputError(f"not a scenario of benchmarks/ops_per_photo: missing {section!r}")
    counts = scenario[section]
    if not isinstance(counts, dict):
        raise CostInputError(f"{section} must be a JSON object of names to numbers, not {counts!r}")
    for name, value in counts.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf:
            raise CostInputError(f"{section}: {name!r} must be a number >= 0, not {value!r}")
        if section == "storage" and len(name.split(" ")) < 2:
            raise CostInputError(f"storage: {name!r} is not 'service operation' (e.g. 'blob Blob_Download')")
    return {name: float(value) for name, value in counts.items()}


def billed_seconds(runs: dict[str, float], ms: dict[str, float]) -> float:
    """Execution seconds as Flex Consumption bills them: each execution at least 1 s, then rounded up to 100 ms.

    The measurement keeps each function's count and total milliseconds, so each execution is taken at its
    function's mean: exact while every execution takes at most a second (the floor), less than the bill for
    an execution that takes longer than its mean."""
    total = 0.0
    for name, spent in ms.items():
        count = runs.get(name, 0.0)
        if count <= 0:
            if spent > 0:
                raise CostInputError(f"execution_ms: {name!r} has milliseconds but no executions")
            continue
        mean = math.ceil(spent / count / BILLED_STEP_MS - 1e-9) * BILLED_STEP_MS
        total += count * max(MIN_BILLED_MS, mean) / 1000.0
    unmeasured = sum(count for name, count in runs.items() if name not in ms)
    return total + unmeasured * MIN_BILLED_MS / 1000.0  # a run without its milliseconds: the floor at least


@dataclass(frozen=True)
class Assumptions:
    """The photo's size, and how long each copy is kept: the defaults are infra/main.bicep's."""

    photo_mb: float = 0.5  # a 1080p field photo as a JPEG; the derived input and the overlay about as big
    originals_days: float = 30.0  # originalsRetentionDays: photos/ deleted by the lifecycle rule
    quarantine_days: float = 30.0  # quarantineRetentionDays
    derived_days: float = 7.0  # derivedRetentionDays
    soft_delete_days: float = 7.0  # softDeleteDays (14 in main.prod.bicepparam): a deleted blob is billed on
    results_days: float = 90.0  # resultsRetentionDays: results/ (the overlay, the photo drawn on) deleted by the rule
    instance_gb: float = 2.0  # the 2,048 MB Flex instance infra/ deploys, in the meter's GB (1,024 MB)
    webhook_kb: float = 2.0  # one signed POST with its headers


def gpu_node_hours_per_photo(trace: Path, settings: Settings) -> tuple[float, int]:
    """Simulated node-hours of the deployed formula on a trace, per photo, and the trace's photo count."""
    arrivals = read_trace(trace)
    if not arrivals:
        raise CostInputError(f"{trace} holds no photos")
    run = simulate(Formula.parse(FORMULA.read_text(encoding="utf-8")), arrivals, settings)
    result = summary(arrivals, run, oracle_for(arrivals, settings), settings)
    return float(result["node_hours"]) / len(arrivals), len(arrivals)


def per_thousand(ops: PhotoOps, prices: Prices, assume: Assumptions, node_hours_per_photo: float,
                 node_price_per_hour: float) -> dict[str, float]:  # fmt: skip
    """USD per 1,000 photos by component (free monthly grants left out: they favour small fleets only).

    `node_hours_per_photo` is per photo of the simulated trace, which runs one task each: it is charged for
    each task the scenario adds."""
    k = 1000.0
    gb_s = ops.billed_execution_s * assume.instance_gb
    blob_ops = (ops.blob_writes * prices.blob_write_per_10k + ops.blob_reads * prices.blob_read_per_10k
                + ops.blob_lists * prices.blob_list_per_10k)  # fmt: skip
    return {
        "blob transactions": k * blob_ops / 10_000,
        "queue transactions": k * ops.queue_ops * prices.queue_per_10k / 10_000,
        "table transactions": k * ops.table_ops * prices.table_per_10k / 10_000,
        "blob capacity": k * stored_gb_months(ops, assume) * prices.blob_gb_month,
        "functions executions": k * ops.executions * prices.functions_per_million / 1e6,
        "functions GB-s": k * gb_s * prices.functions_gb_s,
        "event grid": k * ops.event_grid_ops * prices.event_grid_per_million / 1e6,
        "webhook egress": k * ops.webhooks * assume.webhook_kb / (1024.0 * 1024.0) * prices.egress_per_gb,
        "gpu nodes": k * ops.tasks * node_hours_per_photo * node_price_per_hour,
    }


def stored_gb_months(ops: PhotoOps, assume: Assumptions) -> float:
    """GB-months one photo's blobs are billed for: each copy for the days its lifecycle rule keeps it, then the
    soft delete every deletion is followed by; one overlay per task, for `results_days`."""
    soft = assume.soft_delete_days
    days = (max(0.0, ops.originals - ops.quarantined) * (assume.originals_days + soft)
            + ops.quarantined * (soft + assume.quarantine_days + soft)  # the original deleted at once, the copy
            + ops.derived * (assume.derived_days + soft)
            + ops.tasks * (assume.results_days + soft))  # fmt: skip
    return assume.photo_mb / 1024.0 * days / DAYS_PER_MONTH


def prices_dict(prices: Prices) -> dict[str, float]:
    return asdict(prices)
