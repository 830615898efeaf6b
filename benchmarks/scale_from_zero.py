"""How much sooner a pool at zero scales up, and its first task ends, when the app wakes it (docs/autoscale.md,
"Scale from zero"), against the same pool left to its schedule, in the same run on the same machine.

Each round: a local Batch service (emulated clock `--time-scale`, node boot `--boot` emulated seconds),
Azurite for the waker's claim row, and two pools at zero with `infra/autoscale.formula` and a 5-minute
schedule, created together; one task each; only the first pool is woken (`BatchPoolWaker`, as the app
wires it, with its polls scaled to the emulated clock). Reported per round and as medians: emulated seconds
from creation to the scale-up evaluation for both pools, how much earlier the woken pool's task ended
(real end times times the time scale), and the ratio of the two scale-up delays; also the Batch calls the waker
made. JSON is printed and written to `.local/benchmarks/scale_from_zero.json`.
Run: `.venv/bin/python -m benchmarks.scale_from_zero [--rounds 3] [--time-scale 60] [--boot 60]`.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import statistics
import sys
import tempfile
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from azure.batch import BatchClient, models
from azure.core.credentials import AzureNamedKeyCredential
from azure.data.tables import TableServiceClient

from emulators.azurite import Azurite, free_port, free_ports
from emulators.batch_service.launcher import BatchServiceProcess
from shared.adapters.azure_pool_waker import BatchPoolWaker
from tests.support.waiting import wait_for

REPO = Path(__file__).resolve().parents[1]
FORMULA = (REPO / "infra" / "autoscale.formula").read_text()
INTERVAL = timedelta(minutes=5)


def _pool_with_a_task(batch: BatchClient, pool_id: str) -> datetime:
    batch.create_pool(models.BatchPoolCreateOptions(id=pool_id, vm_size="standard_nc4as_t4_v3",
                                                    enable_auto_scale=True, auto_scale_formula=FORMULA,
                                                    auto_scale_evaluation_interval=INTERVAL))  # fmt: skip
    created = wait_for(lambda: _last_run(batch, pool_id), 30, "the evaluation at creation")
    batch.create_job(models.BatchJobCreateOptions(id=pool_id, pool_info=models.BatchPoolInfo(pool_id=pool_id)))
    batch.create_task(pool_id, models.BatchTaskCreateOptions(id="photo", command_line=f"{sys.executable} -c pass"))
    return created


def _last_run(batch: BatchClient, pool_id: str) -> datetime | None:
    run = batch.get_pool(pool_id).auto_scale_run
    return run.timestamp if run else None


def _scaled_up(batch: BatchClient, pool_id: str) -> datetime | None:
    pool = batch.get_pool(pool_id)
    return pool.auto_scale_run.timestamp if pool.target_dedicated_nodes and pool.auto_scale_run else None


def _ended(batch: BatchClient, pool_id: str) -> datetime | None:
    task = batch.get_task(pool_id, "photo")
    done = task.state == models.BatchTaskState.COMPLETED and task.execution_info
    return task.execution_info.end_time if done and task.execution_info else None


def _wait(condition: Callable[[], datetime | None], timeout: float, what: str) -> datetime:
    return wait_for(condition, timeout, what)


def one_round(folder: Path, time_scale: float, boot: float) -> dict[str, float]:
    blob_port, queue_port, table_port = free_ports(3)
    with (
        Azurite.start(REPO, folder / "azurite", (blob_port, queue_port, table_port),
                      log_file=folder / "azurite.log") as azurite,
        BatchServiceProcess.launch(REPO, folder / "batch", free_port(), log_file=folder / "batch.log",
                                   time_scale=time_scale, boot_delay_s=boot) as service,
    ):  # fmt: skip
        batch = BatchClient(service.endpoint, AzureNamedKeyCredential(service.account_name, service.account_key))
        table = TableServiceClient.from_connection_string(azurite.connection_string).create_table_if_not_exists(
            f"jobs{uuid.uuid4().hex[:8]}"
        )
        created = {p: _pool_with_a_task(batch, p) for p in ("woken", "waiting")}
        step = timedelta(seconds=1 / time_scale)  # one emulated second, so the polls follow the emulated clock
        waker = BatchPoolWaker(batch, "woken", table, first_poll=step, poll=10 * step, give_up=90 * step,
                               background=lambda work: work())  # fmt: skip
        waker.wake()
        deadline = 6000 / time_scale  # real seconds: twenty 5-minute intervals of emulated time
        scaled = {p: _wait(functools.partial(_scaled_up, batch, p), deadline, f"{p} to scale up") for p in created}
        ended = {p: _wait(functools.partial(_ended, batch, p), deadline, f"{p}'s task to end") for p in created}
        delay = {p: (scaled[p] - created[p]).total_seconds() for p in created}
        return {
            "woken_scale_up_s": delay["woken"],
            "waiting_scale_up_s": delay["waiting"],
            "first_task_earlier_s": (ended["waiting"] - ended["woken"]).total_seconds() * time_scale,
            "scale_up_ratio": delay["woken"] / delay["waiting"],
            "waker_pool_reads": waker.looks,
            "waker_evaluations": waker.evaluations,
            "waker_kicks": waker.kicks,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--time-scale", type=float, default=60.0)
    parser.add_argument("--boot", type=float, default=60.0, help="node boot, emulated seconds")
    args = parser.parse_args()
    rounds = []
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory() as folder:
            rounds.append(one_round(Path(folder), args.time_scale, args.boot))
    summary: dict[str, Any] = {
        "machine": {"cpu": platform.processor() or platform.machine(), "cpus": os.cpu_count()},
        "time_scale": args.time_scale,
        "boot_s": args.boot,
        "rounds": rounds,
        "median": {k: statistics.median(r[k] for r in rounds) for k in rounds[0]},
    }
    out = REPO / ".local" / "benchmarks" / "scale_from_zero.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
