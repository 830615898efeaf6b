"""What 1,000 photos cost end to end, by component: the measured requests per photo times a dated price table.

Requests per photo come from `benchmarks/ops_per_photo` (Azurite's, the Batch service's and the Functions
host's own logs; docs/scale.md has the table): by default the happy-path figures below, measured on the
local stack, or a scenario of a fresh `.local/benchmarks/ops_per_photo.json`. GPU time is the simulator's:
the deployed autoscale formula run on a reference trace (node-hours per photo of that day, idle time
included), priced by the VM table of `sitelens.plan`. Every price is an example with its source and date, and
a JSON file can replace any of them (`sitelens cost --prices FILE`).
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
BLOB_READS = frozenset({"Blob_Download", "Blob_GetProperties", "Blob_GetMetadata", "Container_GetProperties",
                        "Blob_GetTags"})  # fmt: skip
FREE_BLOB_OPERATIONS = frozenset({"Blob_Delete", "Container_Delete"})  # Delete is not billed for hot blobs


class CostInputError(ValueError):
    """A price file or an operations file the command cannot use; the message says why."""


@dataclass(frozen=True)
class Prices:
    """USD, East US, pay-as-you-go, examples read on PRICES_AS_OF; docs/scale.md gives each one's page."""

    blob_write_per_10k: float = 0.065  # hot, LRS: Put Block, Put Block List, Put Blob, Copy, Set Metadata
    blob_read_per_10k: float = 0.005  # hot, LRS: Get Blob, Get Blob Properties
    blob_list_per_10k: float = 0.065  # hot, LRS: List Blobs and create-container class
    blob_gb_month: float = 0.0208  # hot, LRS, first 50 TB
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
    """Billable operations per photo, in the classes the price table uses."""

    blob_writes: float
    blob_reads: float
    blob_lists: float
    queue_ops: float
    table_ops: float
    executions: float
    execution_s: float
    event_grid_ops: float
    webhooks: float

    @classmethod
    def from_scenario(cls, scenario: dict[str, Any]) -> PhotoOps:
        """From one scenario of the benchmark's JSON (requests per photo by `service operation`)."""
        try:
            storage: dict[str, float] = scenario["storage"]
            runs: dict[str, float] = scenario["executions"]
            ms: dict[str, float] = scenario["execution_ms"]
        except (KeyError, TypeError) as exc:
            raise CostInputError(f"not a scenario of benchmarks/ops_per_photo: missing {exc}") from exc
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
        return cls(**by, executions=sum(runs.values()), execution_s=sum(ms.values()) / 1000.0,
                   event_grid_ops=2 * deliveries,  # the event's publish and its delivery
                   webhooks=sum(v for k, v in runs.items() if k.split(" ")[0] == "on_notification"))  # fmt: skip

    @classmethod
    def from_file(cls, path: Path, scenario: str) -> PhotoOps:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            found = doc["scenarios"][scenario]
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CostInputError(f"cannot read operations from {path}: {exc}") from exc
        except (KeyError, TypeError):
            raise CostInputError(f"{path} has no scenario {scenario!r}") from None
        return cls.from_scenario(found)


@dataclass(frozen=True)
class Assumptions:
    photo_mb: float = 0.5  # a 1080p field photo as a JPEG
    stored_copies: float = 3.0  # the original, derived/input.jpg and results/overlay.jpg, about its size each
    retention_months: float = 1.0
    instance_gb: float = 2.048  # the Flex instance memory infra/ deploys
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
    """USD per 1,000 photos by component (free monthly grants left out: they favour small fleets only)."""
    k = 1000.0
    gb_s = ops.execution_s * assume.instance_gb
    stored_gb = assume.photo_mb * assume.stored_copies / 1024.0
    blob_ops = (ops.blob_writes * prices.blob_write_per_10k + ops.blob_reads * prices.blob_read_per_10k
                + ops.blob_lists * prices.blob_list_per_10k)  # fmt: skip
    return {
        "blob transactions": k * blob_ops / 10_000,
        "queue transactions": k * ops.queue_ops * prices.queue_per_10k / 10_000,
        "table transactions": k * ops.table_ops * prices.table_per_10k / 10_000,
        "blob capacity": k * stored_gb * assume.retention_months * prices.blob_gb_month,
        "functions executions": k * ops.executions * prices.functions_per_million / 1e6,
        "functions GB-s": k * gb_s * prices.functions_gb_s,
        "event grid": k * ops.event_grid_ops * prices.event_grid_per_million / 1e6,
        "webhook egress": k * ops.webhooks * assume.webhook_kb / (1024.0 * 1024.0) * prices.egress_per_gb,
        "gpu nodes": k * node_hours_per_photo * node_price_per_hour,
    }


def prices_dict(prices: Prices) -> dict[str, float]:
    return asdict(prices)
