"""Requests per photo, counted from the traffic of the whole local stack, on the happy path and each failure path.

One local stack (Azurite with its debug log, the local Batch service, the local Functions host running the
real app), a loopback webhook subscription for the site, and scenarios run one after the other, each counted
between two marks of `emulators.request_counter` and divided by its photos:

- `first_photo`: the day's first photo, on a pool at zero (adds the Batch job for the day and the kick);
- `happy`: N distinct photos once the pool is up;
- `rejected`: files validation refuses (a renamed PDF, a truncated JPEG);
- `duplicate_content`: the happy photos' bytes again under new names (the content claim: no second GPU run);
- `webhook_retry`: one photo whose first webhook attempt gets a 500, the second a 200;
- `task_retry`: one photo whose first Batch task attempt exits non-zero (Batch retries it);
- `redelivered`: the happy photos' blob events delivered again (the blob trigger's message sent a second
  time, as Event Grid redelivers): the job exists, so nothing new is done.

A scenario ends when the receiver has every photo's webhook and the app's storage traffic has been still for
`SETTLE_S`. The reconciler, the webhook sweep and record expiry are scheduled once a year for the run, so that
what is counted follows from the photos, not from the clock; what a timer run costs is a fixed rate, not a per-photo one
(docs/scale.md). The local host's own blob scan and receipts (what Event Grid replaces in Azure) are counted
apart, as `host_storage`. Printed as a table and JSON, written to `.local/benchmarks/ops_per_photo.json`.
Run: `.venv/bin/python -m benchmarks.ops_per_photo [--photos N]`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from azure.storage.blob import ContainerClient
from azure.storage.queue import QueueClient, TextBase64EncodePolicy

from emulators.azurite import free_ports
from emulators.functions_host.blob_trigger import trigger_queue_name
from emulators.request_counter import Counts, RequestCounter
from sitelens import field_photos
from sitelens.api_client import ApiClient
from sitelens.local_pool import TASK_COMMAND
from sitelens.stack import Stack
from sitelens.upload import Outcome, Uploader
from sitelens.upload_command import http_requester
from tests.support.receiver import Receiver, Reply
from tests.support.waiting import wait_for

REPO = Path(__file__).resolve().parents[1]
SITE, DEVICE = "ops-site", "ops-cam"
SETTLE_S = 3.0
# The timers' schedule for the run: once a year (1 January, 00:00 UTC), so that none runs while a scenario is
# counted (hourly, one ran whenever a scenario spanned the top of an hour, its requests counted as the photos').
RARELY = "0 0 0 1 1 *"
# The first attempt leaves a mark in the task's folder and exits 1 before the task client runs; Batch's retry
# (attempt 2, on the same node: the stack has one) finds the mark and runs it. Batch tells a task nothing of
# its retries, hence the mark; it runs a command line without a shell, so the test needs one of its own.
FAIL_FIRST_ATTEMPT = f"/bin/sh -c 'test -e tried && exec {TASK_COMMAND}; touch tried; exit 1'"


@contextmanager
def counted_stack(folder: Path, env: dict[str, str] | None = None) -> Iterator[tuple[Stack, RequestCounter]]:
    blob_port, queue_port, table_port, functions_port, batch_port = free_ports(5)
    stack = Stack(repo=REPO, state_dir=folder / "stack", azurite_ports=(blob_port, queue_port, table_port),
                  functions_port=functions_port, batch_port=batch_port, azurite_debug_log=folder / "azurite-debug.log",
                  functions_env={"SITELENS_RECONCILE_SCHEDULE": RARELY, "SITELENS_WEBHOOK_SWEEP_SCHEDULE": RARELY,
                                 "SITELENS_RECORDS_EXPIRY_SCHEDULE": RARELY, **(env or {})})  # fmt: skip
    logs = stack.state_dir / "logs"
    counter = RequestCounter(folder / "azurite-debug.log", logs / "batch.log", logs / "functions.log")
    stack.start()
    try:
        yield stack, counter
    finally:
        stack.stop()


class Scenarios:
    """Runs scenarios on one stack; each returns its counts divided by its photos."""

    def __init__(self, stack: Stack, counter: RequestCounter, receiver: Receiver, folder: Path) -> None:
        self.stack, self.counter, self.receiver, self.folder = stack, counter, receiver, folder
        self.api = ApiClient.of_stack(stack.state_dir)
        self.api.post("/subscriptions", {"url": receiver.url, "site": SITE})
        self.request = http_requester(self.api.base, self.api.key)
        self.outcomes: list[Outcome] = []

    def files(self, name: str, blobs: list[bytes]) -> list[Path]:
        paths = []
        for i, data in enumerate(blobs):
            paths.append(self.folder / f"{name}-{i}.jpg")
            paths[-1].write_bytes(data)
        return paths

    def run(self, paths: list[Path], *, webhooks_per_photo: int = 1, deadline_s: float = 300.0) -> dict[str, Any]:
        mark = self.counter.mark()
        before = len(self.receiver.received)
        outcomes = [Uploader(self.request, site=SITE, device=DEVICE).upload(p) for p in paths]
        self.outcomes = outcomes
        failed = [o.reason for o in outcomes if not o.job_id]
        if failed:
            raise RuntimeError(f"uploads failed: {failed}")
        wanted = len(paths) * webhooks_per_photo
        self.receiver.wait_for(before + wanted, deadline_s)
        counts = self._settled(mark)
        return per_photo(counts, len(paths))

    def redeliver(self, outcomes: list[Outcome]) -> dict[str, Any]:
        """Each photo's blob-trigger message again, built from the receipt the host wrote for it."""
        assert self.stack.azurite is not None
        connection = self.stack.azurite.connection_string
        mark = self.counter.mark()  # what follows touches only the host's own containers and queues
        receipts = ContainerClient.from_connection_string(connection, "azure-webjobs-hosts")
        names = [b.name for b in receipts.list_blobs(name_starts_with="blobreceipts/")]
        for outcome in outcomes:
            receipt = next(n for n in names if n.endswith(f"/photos/{outcome.blob_name}"))
            _, host_id, function_id, etag = receipt.split("/")[:4]
            etag = etag if etag.startswith('"') else f'"{etag}"'  # as the host keeps it
            message = {"Type": "BlobTrigger", "FunctionId": function_id, "BlobType": "BlockBlob",
                       "ContainerName": "photos", "BlobName": outcome.blob_name, "ETag": etag}  # fmt: skip
            queue = QueueClient.from_connection_string(connection, trigger_queue_name(host_id),
                                                       message_encode_policy=TextBase64EncodePolicy())  # fmt: skip
            queue.send_message(json.dumps(message))

        def delivered() -> bool:
            return self.counter.since(mark).executions.get("on_photo_uploaded", 0) >= len(outcomes)

        wait_for(delivered, 120.0, "the redelivered blob events to run")
        return per_photo(self._settled(mark), len(outcomes))

    def _settled(self, mark: Any) -> Counts:
        """The counts once the app's storage traffic has stopped changing for SETTLE_S."""
        seen: dict[str, Any] = {"total": -1, "since": time.monotonic()}

        def still() -> Counts | None:
            counts = self.counter.since(mark)
            total = sum(counts.storage.values()) + sum(counts.batch.values())
            if total != seen["total"]:
                seen.update(total=total, since=time.monotonic())
                return None
            return counts if time.monotonic() - seen["since"] >= SETTLE_S else None

        return wait_for(still, 120.0, "the app's storage traffic to settle")


def per_photo(counts: Counts, photos: int) -> dict[str, Any]:
    def divide(c: Counter[str]) -> dict[str, float]:
        return {k: round(v / photos, 2) for k, v in sorted(c.items())}

    return {
        "photos": photos,
        "storage": divide(counts.storage),
        "batch": divide(counts.batch),
        "executions": divide(counts.executions),
        "execution_ms": divide(counts.execution_ms),
        "storage_by_resource": divide(counts.by_resource),
        "host_storage": divide(counts.host_storage),
        "totals": {
            "storage": round(sum(counts.storage.values()) / photos, 2),
            "batch": round(sum(counts.batch.values()) / photos, 2),
            "executions": round(sum(counts.executions.values()) / photos, 2),
        },
    }


def measure(photos: int, folder: Path, *, only_happy: bool = False) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    shots = field_photos.photo_set(photos + 3, seed=4242, size="1080p")
    with Receiver() as receiver, counted_stack(folder) as (stack, counter):
        s = Scenarios(stack, counter, receiver, folder)
        results["first_photo"] = s.run(s.files("first", [shots[0].jpeg]))
        happy = [p.jpeg for p in shots[1 : photos + 1]]
        results["happy"] = s.run(s.files("happy", happy))
        happy_outcomes = s.outcomes
        if only_happy:
            return results
        bad = field_photos.bad_files()
        results["rejected"] = s.run(s.files("bad", [bad["report.jpg"][0], bad["truncated.jpg"][0]]))
        results["duplicate_content"] = s.run(s.files("again", happy))
        results["redelivered"] = s.redeliver(happy_outcomes)
        receiver.script = [Reply(status=500)]
        results["webhook_retry"] = s.run(s.files("hook", [shots[photos + 1].jpeg]), webhooks_per_photo=2)
        stack.restart_functions(env={**stack.functions_env, "SITELENS_TASK_COMMAND": FAIL_FIRST_ATTEMPT})
        results["task_retry"] = s.run(s.files("retry", [shots[photos + 2].jpeg]))
    return results


def table(results: dict[str, dict[str, Any]]) -> str:
    """Rows: every operation seen; columns: the scenarios; cells: requests per photo."""
    names = list(results)
    rows: dict[str, dict[str, float]] = {}
    for name, r in results.items():
        for group in ("storage", "batch"):
            for kind, value in r[group].items():
                rows.setdefault(kind, {})[name] = value
        for fn, value in r["executions"].items():
            rows.setdefault(f"execution {fn}", {})[name] = value
    width = max(len(k) for k in rows) if rows else 10
    lines = [f"{'operation (per photo)':<{width}} " + " ".join(f"{n:>17}" for n in names)]
    cell: Callable[[float | None], str] = lambda v: f"{v:>17g}" if v is not None else f"{'':>17}"  # noqa: E731
    for kind in sorted(rows, key=lambda k: (k.split()[0], k)):
        lines.append(f"{kind:<{width}} " + " ".join(cell(rows[kind].get(n)) for n in names))
    for group in ("storage", "batch", "executions"):
        lines.append(f"{'total ' + group:<{width}} " + " ".join(cell(results[n]["totals"][group]) for n in names))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.ops_per_photo", description=__doc__.split("\n")[0])
    p.add_argument("--photos", type=int, default=4, help="photos in the happy and duplicate scenarios (default 4)")
    p.add_argument("--out", type=Path, default=REPO / ".local" / "benchmarks" / "ops_per_photo.json")
    args = p.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="sitelens-ops-"))
    try:
        results = measure(args.photos, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    summary = {"benchmark": "ops_per_photo", "scenarios": results}
    text = json.dumps(summary, indent=2)
    print(text)
    print(table(results))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
