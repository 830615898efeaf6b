"""A burst of photos through the whole local stack, against pure inference of the same photos.

The pipeline run: a fresh local stack (Azurite, the Functions host, the Batch service with the GPU pool at 0
nodes, autoscaled by the real formula; node servers started by the real start task). A field crew's burst:
every photo uploaded at once through `POST /api/uploads` and its SAS (the `sitelens upload` engine, several
uploads in flight). Wall time runs from the first upload to the last job's `finished_at`.

The baseline, in the same run on the same machine, after the stack is stopped: the same photos read by
the same engine (batch_tasks.ocr, the node server's defaults) in as many processes as the pool had node
servers at its peak, each pulling up to a node's task slots at a time from one shared queue. It counts
decode and inference only; model loading and warm-up happen before its clock starts.

Reported: wall / pure inference (the bar is 1.3; within it only if every photo's job SUCCEEDED, and no
wall time nor ratio unless every job is terminal), and p50/p95 of blob committed (the upload's commit
returned) → task submitted (the job's `queued_at`), from the jobs' own timings. The JSON summary is printed
and written to `.local/benchmarks/pipeline_burst.json`. Run: `.venv/bin/python -m benchmarks.pipeline_burst`.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from emulators.azurite import free_ports
from sitelens import field_photos
from sitelens.api_client import ApiClient
from sitelens.local_pool import POOL_ID, TASK_SLOTS_PER_NODE
from sitelens.stack import Stack
from sitelens.upload import Outcome, Uploader
from sitelens.upload_command import http_requester

REPO = Path(__file__).resolve().parents[1]
MODEL_DIR = REPO / "models" / "ocr" / "ppocrv4"
BAR = 1.3
TERMINAL = ("SUCCEEDED", "FAILED", "REJECTED")
SITE, DEVICE = "bench-site", "bench-cam"


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "max": None}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"p50": round(statistics.median(ordered), 1), "p95": round(p95, 1), "max": round(ordered[-1], 1)}


# --- the verdict -------------------------------------------------------------------------------------
def wall_time_s(done: list[dict[str, Any]], wanted: int, started: datetime) -> float | None:
    """Seconds from the first upload to the last job's `finished_at`, given the jobs that finished.

    None unless all `wanted` jobs finished: a run cut off by its deadline has no wall time, and the time to
    its last finished job, or to when it stopped waiting, would read as one.
    """
    if not done or len(done) < wanted:
        return None
    return round((max(_when(j["timings"]["finished_at"]) for j in done) - started).total_seconds(), 2)


def verdict(run: dict[str, Any], photos: int, pure_s: float) -> dict[str, Any]:
    """Wall time over pure inference, and whether the run is within the bar.

    Only a run in which every photo of the burst became a job and every job SUCCEEDED is within it: a
    photo that was not uploaded, was rejected or failed was not served, so its wall time says nothing of
    what serving it costs.
    """
    ratio = run["wall_s"] / pure_s if run["wall_s"] is not None and pure_s else None
    first_node = run["pool"]["first_node_ready_s"]
    # Without the scale-up from zero (a pool kept warm): what the pipeline itself adds to inference.
    warm = (run["wall_s"] - first_node) / pure_s if ratio is not None and first_node is not None else None
    all_succeeded = run["all_terminal"] and run["states"].get("SUCCEEDED", 0) == photos
    return {
        "wall_over_pure": round(ratio, 3) if ratio is not None else None,
        "wall_after_first_node_over_pure": round(warm, 3) if warm is not None else None,
        "bar": BAR,
        "all_succeeded": all_succeeded,
        "within_bar": bool(all_succeeded and ratio is not None and ratio <= BAR),
    }


# --- the pipeline run --------------------------------------------------------------------------------
def burst(folder: Path, paths: list[Path], uploaders: int, deadline_s: float) -> dict[str, Any]:
    blob_port, queue_port, table_port, functions_port, batch_port = free_ports(5)
    stack = Stack(repo=REPO, state_dir=folder / "stack", azurite_ports=(blob_port, queue_port, table_port),
                  functions_port=functions_port, batch_port=batch_port)  # fmt: skip
    stack.start()
    try:
        api = ApiClient.of_stack(stack.state_dir)
        batch = stack.pool().client()
        request = http_requester(api.base, api.key)
        started = datetime.now(UTC)

        def send(path: Path) -> Outcome:
            return Uploader(request, site=SITE, device=DEVICE).upload(path)

        with ThreadPoolExecutor(uploaders) as pool:
            outcomes = list(pool.map(send, paths))
        uploaded = datetime.now(UTC)
        wanted = {o.job_id: o for o in outcomes if o.job_id}
        jobs, peak, first_node = _follow(api, batch, set(wanted), started, deadline_s)
    finally:
        stack.stop()
    done = [j for j in jobs.values() if j["state"] in TERMINAL and j["timings"]["finished_at"]]
    submit_ms = [(_when(j["timings"]["queued_at"]) - _when(str(wanted[i].committed_at))).total_seconds() * 1000
                 for i, j in jobs.items() if j["timings"].get("queued_at") and wanted[i].committed_at]  # fmt: skip
    receive_ms = [(_when(j["timings"]["received_at"]) - _when(str(wanted[i].committed_at))).total_seconds() * 1000
                  for i, j in jobs.items() if wanted[i].committed_at]  # fmt: skip
    queued = [_when(j["timings"]["queued_at"]) for j in jobs.values() if j["timings"].get("queued_at")]
    states: dict[str, int] = {}
    for job in jobs.values():
        states[job["state"]] = states.get(job["state"], 0) + 1
    return {
        "uploaded": len(wanted),
        "upload_failures": [o.reason for o in outcomes if not o.job_id],
        "states": states,
        "wall_s": wall_time_s(done, len(wanted), started),
        "upload_s": round((uploaded - started).total_seconds(), 2),
        # When the last task was submitted: from here on only the pool's throughput counts.
        "last_submitted_s": round((max(queued) - started).total_seconds(), 2) if queued else None,
        "commit_to_submit_ms": _percentiles(submit_ms),
        "commit_to_received_ms": _percentiles(receive_ms),
        "pool": {"peak_nodes": peak, "first_node_ready_s": first_node},
        "all_terminal": len(done) == len(wanted),
    }


def _follow(api: ApiClient, batch: Any, wanted: set[str], started: datetime, deadline_s: float) -> tuple[
    dict[str, dict[str, Any]], int, float | None
]:  # fmt: skip
    """Poll the status API (paged list) and the pool until every job is terminal; the jobs and the pool's peak."""
    jobs: dict[str, dict[str, Any]] = {}
    peak, first_node = 0, None
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        jobs.update({j["id"]: j for j in api.site_jobs(SITE) if j["id"] in wanted})
        nodes = [str(n.state).rsplit(".", 1)[-1].lower() for n in batch.list_nodes(POOL_ID)]
        peak = max(peak, len(nodes))
        if first_node is None and any(s in ("idle", "running") for s in nodes):
            first_node = round((datetime.now(UTC) - started).total_seconds(), 1)
        if len(jobs) == len(wanted) and all(j["state"] in TERMINAL for j in jobs.values()):
            break
        time.sleep(0.5)  # the poll period; the figures come from the jobs' own timestamps, not from here
    return jobs, peak, first_node


# --- the baseline ------------------------------------------------------------------------------------
def _reader(paths: list[str], work: Any, ready: Any, results: Any) -> None:
    """One node server's worth of reading: load and warm the engine, then pull photos until none are left."""
    from batch_tasks.ocr.engine import OcrEngine  # noqa: PLC0415 (loaded in the child process only)

    engine = OcrEngine.load(MODEL_DIR)
    engine.warm()
    ready.wait()
    start = time.time()
    count = 0
    while True:
        batch = []
        for _ in range(TASK_SLOTS_PER_NODE):
            index = work.get()
            if index is None:
                break
            batch.append(index)
        if batch:
            images = [engine.decode(Path(paths[i]).read_bytes()) for i in batch]
            engine.run_batch(images, with_overlay=False)
            count += len(batch)
        if len(batch) < TASK_SLOTS_PER_NODE:
            break
    results.put((start, time.time(), count, engine.providers[0]))


def pure_inference(paths: list[Path], processes: int) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    work, results, ready = ctx.Queue(), ctx.Queue(), ctx.Barrier(processes)
    for i in range(len(paths)):
        work.put(i)
    for _ in range(processes):
        work.put(None)  # one stop mark per reader: each stops at the first it pulls
    names = [str(p) for p in paths]
    children = [ctx.Process(target=_reader, args=(names, work, ready, results)) for _ in range(processes)]
    for child in children:
        child.start()
    rows = [results.get(timeout=1800) for _ in children]
    for child in children:
        child.join()
    pure = max(r[1] for r in rows) - min(r[0] for r in rows)
    return {
        "processes": processes,
        "pure_s": round(pure, 2),
        "per_photo_s": round(pure / len(paths), 3) if paths else None,
        "photos_read": sum(r[2] for r in rows),
        "provider": rows[0][3],
    }


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        model = [ln for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("model name")]
        cpu = model[0].split(":", 1)[1].strip() if model else cpu
    except OSError:
        pass
    return {"host": platform.node(), "cpu": cpu, "cpus": os.cpu_count(), "system": platform.platform(),
            "python": platform.python_version(), "gpu": shutil.which("nvidia-smi") is not None}  # fmt: skip


def _load() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.pipeline_burst", description=__doc__.split("\n")[0])
    p.add_argument("--photos", type=int, default=100, help="photos in the burst (default 100)")
    p.add_argument("--size", choices=sorted(field_photos.SIZES), default="1080p", help="generated photo size")
    p.add_argument("--uploaders", type=int, default=8, help="uploads in flight at once")
    p.add_argument("--deadline", type=float, default=1800.0, help="seconds for every job to be terminal")
    p.add_argument("--machine", default=None, help="a description of this machine for the summary")
    p.add_argument("--out", type=Path, default=REPO / ".local" / "benchmarks" / "pipeline_burst.json",
                   help="where the JSON summary is written too")  # fmt: skip
    args = p.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="sitelens-burst-"))
    try:
        photos = field_photos.photo_set(args.photos, seed=1000, size=args.size)
        paths = []
        for photo in photos:
            paths.append(folder / f"{photo.name}.jpg")
            paths[-1].write_bytes(photo.jpeg)
        load = {"before": _load()}
        run = burst(folder, paths, args.uploaders, args.deadline)
        load["after_pipeline"] = _load()
        base = pure_inference(paths, max(1, run["pool"]["peak_nodes"]))
        load["after_baseline"] = _load()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    summary = {
        "benchmark": "pipeline_burst",
        "machine": {**machine(), **({"description": args.machine} if args.machine else {})},
        # 1-minute load averages: well above the core count, something else shared the CPUs and both
        # figures (the ratio less so, if the load was steady) are slower than the machine can do.
        "load_average_1m": load,
        "photos": args.photos,
        "size": args.size,
        "pipeline": run,
        "baseline": base,
        **verdict(run, args.photos, base["pure_s"]),
    }
    text = json.dumps(summary, indent=2)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    return 0 if run["all_terminal"] and not run["upload_failures"] else 1  # a photo not sent is a broken run too


if __name__ == "__main__":
    sys.exit(main())
