"""`sitelens chaos` (`make chaos`): the pipeline's guarantees under load with many faults at once.

1. a fresh local stack (sitelens/chaos_stack.py): the fault proxy between storage and the app, the Batch
   service and the nodes; the reconciler's bounds shortened, Batch's task retries raised;
2. a webhook receiver that answers 500, times out or is down for a while (sitelens/chaos_receiver.py);
3. N generated field photos (`--size`, small by default so 2,000 fit in 20 minutes on 2 cores), uploaded
   by several devices with duplicate uploads and duplicate events (sitelens/chaos_devices.py),
4. while the seeded fault schedule runs (sitelens/chaos_faults.py, emulators/fault_proxy.py);
5. the faults stop once every photo is uploaded and most jobs are terminal, or at `--fault-window`; the
   run then waits until every job is terminal and its webhook delivered, or the deadline;
6. the verdict (sitelens/chaos_report.py), printed as JSON and written to `.local/benchmarks/chaos.json`.

Exit 0 when nothing was lost or doubled, 1 otherwise, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableServiceClient

from emulators.azurite import free_ports
from emulators.fault_proxy import Faults
from sitelens import field_photos
from sitelens.api_client import ApiClient
from sitelens.chaos_devices import Devices
from sitelens.chaos_faults import KINDS, Injector, Intervals
from sitelens.chaos_receiver import ChaosReceiver
from sitelens.chaos_report import TERMINAL, read_facts, verdict
from sitelens.chaos_stack import RESULT_WRITES, ChaosStack

REPO = Path(__file__).resolve().parents[1]
SITE = "chaos-yard"
OUT = REPO / ".local" / "benchmarks" / "chaos.json"
log = logging.getLogger("sitelens.chaos")
# Kept for repairs after the faults stop: a queue message a killed host held comes back when its lease
# lapses, and the reconciler and the webhook retries need their rounds.
SETTLE_S = 300.0
# Repairs within the run: open jobs looked at after 120 s, every 10 s; webhook deliveries re-driven sooner.
SETTINGS = {
    "SITELENS_STUCK_AFTER_S": "120",
    "SITELENS_RECONCILE_SCHEDULE": "*/10 * * * * *",
    "SITELENS_WEBHOOK_SWEEP_SCHEDULE": "*/10 * * * * *",
    "SITELENS_WEBHOOK_STALE_ATTEMPT_S": "60",  # the least the app accepts: a live attempt may take that long
    "SITELENS_WEBHOOK_LOST_MESSAGE_S": "30",
    # The retry schedule a twentieth as long (0.25 s, 15 s, 90 s, 6 min, ...): a delivery whose first
    # attempts met a killed host and a receiver that was down is retried within the run, not 30 minutes later.
    "SITELENS_WEBHOOK_RETRY_SCALE": "0.05",
    "SITELENS_TASK_MAX_RETRIES": "6",  # a task may meet a killed client, server and service in one life
    # The local host's queue message lease (Azure's is 10 minutes): what a killed host held comes back in 60 s.
    "SITELENS_HOST_MESSAGE_LEASE_S": "60",
}
# The nodes share this machine's cores: one ONNX Runtime thread each, as many nodes as --nodes, keeps the
# cores busy without threads waiting on each other (a run on one thread costs 7 % less CPU per photo than on
# two, measured on the CPU provider).
NODE_SETTINGS = {"SITELENS_INTRA_OP_THREADS": "1"}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("chaos", help="run photos through a local stack under a seeded fault schedule")
    p.add_argument("--photos", type=int, default=2000, help="photos to upload (default 2000)")
    p.add_argument("--size", choices=sorted(field_photos.SIZES), default="360p",
                   help="generated photo size (default 360p: 640 x 360)")  # fmt: skip
    p.add_argument("--devices", type=int, default=4, help="devices uploading at once (default 4)")
    p.add_argument("--nodes", type=int, default=2,
                   help="the pool's most nodes (the formula's maxNodes; default 2: every node shares this "
                        "machine's cores)")  # fmt: skip
    p.add_argument("--seed", type=int, default=1, help="the fault schedule's seed (default 1)")
    p.add_argument("--fault-scale", type=float, default=1.0, help="multiply the kill intervals (smaller: more)")
    p.add_argument("--storage-faults", type=float, default=0.004,
                   help="share of storage requests reset, and the same share dropped (default 0.004)")  # fmt: skip
    p.add_argument("--min-faults", type=int, default=12,
                   help="keep injecting until each kill and outage kind happened this often (default 12)")  # fmt: skip
    p.add_argument("--deadline", type=float, default=3600.0, help="seconds for the whole run (default 3600)")
    p.add_argument("--out", type=Path, default=OUT, help=f"where the JSON report goes too (default {OUT})")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if not 1 <= args.photos <= 20000 or args.devices < 1 or args.nodes < 1:
        print("chaos: --photos must be 1..20000, --devices and --nodes at least 1", file=sys.stderr)
        return 2
    report = chaos(args)
    text = json.dumps(report, indent=2)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    return 0 if not report["lost"] and not report["doubled"] and not report["errors"] else 1


def chaos(args: argparse.Namespace) -> dict[str, Any]:
    begun = time.monotonic()
    folder = Path(tempfile.mkdtemp(prefix="sitelens-chaos-"))
    faults = Faults(reset=args.storage_faults, drop=args.storage_faults, delay=2 * args.storage_faults, delay_s=0.5,
                    refuse_share=0.02, refuse_first=1, refuse_paths=RESULT_WRITES)  # fmt: skip
    blob_port, queue_port, table_port, functions_port, batch_port = free_ports(5)
    stack = ChaosStack(repo=REPO, state_dir=folder / "stack", azurite_ports=(blob_port, queue_port, table_port),
                       functions_port=functions_port, batch_port=batch_port, functions_env=dict(SETTINGS),
                       pool_knobs={"maxNodes": float(args.nodes)}, node_env=dict(NODE_SETTINGS), faults=faults,
                       seed=args.seed)  # fmt: skip
    receiver = ChaosReceiver(seed=args.seed, error_share=0.03, timeout_share=0.015).start()
    try:
        # The photos are drawn while the stack starts (its children spend most of that time waiting).
        with ThreadPoolExecutor(1) as drawing:
            drawn = drawing.submit(_photos, folder / "photos", args.photos, args.size)
            stack.start()
            paths = drawn.result()
        log.info("chaos: stack up, %d photos generated", len(paths))
        api = ApiClient.of_stack(stack.state_dir)
        receiver.secret = api.post("/subscriptions", {"url": receiver.url, "site": SITE})["secret"]
        devices = Devices(stack, SITE, args.seed, count=args.devices)
        injector = Injector(stack, receiver, args.seed, Intervals().scaled(args.fault_scale))
        stack.inject(True)
        injector.start()
        started = datetime.now(UTC)
        devices.upload(paths)
        uploaded_s = (datetime.now(UTC) - started).total_seconds()
        log.info("chaos: uploads done in %.0f s", uploaded_s)
        connection = _direct(stack)
        wanted = {o.job_id for o in devices.outcomes.values() if o.job_id}
        deadline = begun + args.deadline

        # Faults through most of the run (and until each kind happened often enough), leaving time for the
        # last repairs (the reconciler, webhook retries).
        def faulted_enough() -> bool:
            share = _terminal_share(connection, wanted)
            if share >= 1.0:  # nothing left to hurt: the pool has scaled to zero, no node or task to kill
                return True
            return share >= 0.9 and min(injector.counts[k] for k in KINDS) >= args.min_faults

        # Each poll reads every job, a cost that grows with the run; so does the period (5 s up to 2,000
        # photos, 25 s for 10,000).
        poll_s = max(5.0, args.photos / 400)
        _wait(faulted_enough, deadline - min(SETTLE_S, args.deadline / 3), poll_s)
        injector.stop()
        stack.inject(False)
        log.info("chaos: faults stopped; waiting for every job and webhook")
        _wait(lambda: _settled(connection, wanted, receiver), deadline, poll_s)
        facts = read_facts(connection, wanted)
        report = verdict(devices.outcomes, devices.second, facts, receiver)
        retries = _task_retries(stack)
    finally:
        receiver.stop()
        stack.stop()
        shutil.rmtree(folder, ignore_errors=True)
    injected = {**{k: injector.counts.get(k, 0) for k in KINDS}, **stack.proxy_counts(), **receiver.faults,
                **devices.faults}  # fmt: skip
    injected["storage_write_refused"] = injected.pop("refuse", 0)
    return {
        "benchmark": "chaos",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "seed": args.seed,
        "photo_size": args.size,
        "photos_uploaded": sum(1 for o in devices.outcomes.values() if o.job_id),
        "upload_failures": [o.reason for o in devices.outcomes.values() if not o.job_id],
        **report,
        "faults": injected,
        "retries": {"batch_task_retries": retries,
                    "webhook_redeliveries": report["webhooks"]["requests"] - report["webhooks"]["events"]},
        "upload_s": round(uploaded_s, 1),
        "wall_s": round(time.monotonic() - begun, 1),
        "errors": injector.errors,
    }  # fmt: skip


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        names = [ln for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("model name")]
        cpu = names[0].split(":", 1)[1].strip() if names else cpu
    except OSError:
        pass
    return {"cpu": cpu, "cpus": os.cpu_count(), "system": platform.platform(), "python": platform.python_version()}


def _photos(folder: Path, count: int, size: str) -> list[Path]:
    folder.mkdir(parents=True)
    paths = []
    for i in range(count):
        photo = field_photos.render(5000 + i, size)
        paths.append(folder / f"{photo.name}.jpg")
        paths[-1].write_bytes(photo.jpeg)
    return paths


def _direct(stack: ChaosStack) -> str:
    assert stack.azurite is not None
    return stack.azurite.connection_string


def _wait(done: Any, deadline: float, period_s: float) -> bool:
    while time.monotonic() < deadline:
        if done():
            return True
        time.sleep(period_s)  # the run's poll period over the durable state, not synchronisation of a test
    return False


def _states(connection: str, wanted: set[str]) -> dict[str, str]:
    table = TableServiceClient.from_connection_string(connection).get_table_client("jobs")
    try:
        rows = list(table.query_entities("RowKey eq 'job'", select=["PartitionKey", "state"]))
    except ResourceNotFoundError:  # the app creates its tables on first use
        return {}
    return {r["PartitionKey"]: str(r.get("state")) for r in rows if r["PartitionKey"] in wanted}


def _terminal_share(connection: str, wanted: set[str]) -> float:
    states = _states(connection, wanted)
    return sum(1 for s in states.values() if s in TERMINAL) / max(1, len(wanted))


def _settled(connection: str, wanted: set[str], receiver: ChaosReceiver) -> bool:
    states = _states(connection, wanted)
    if len(states) < len(wanted) or any(s not in TERMINAL for s in states.values()):
        return False
    return wanted <= set(receiver.delivered())


def _task_retries(stack: ChaosStack) -> int:
    client = stack.pool().client()
    total = 0
    for job in client.list_jobs():
        for task in client.list_tasks(job.id):
            info = task.execution_info
            total += int(info.retry_count or 0) if info is not None else 0
    return total
