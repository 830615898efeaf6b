"""Node throughput: the node server with thin task clients against the naive task, and the node's ceilings.

`python -m benchmarks.node_throughput [--photos 16] [--sizes 1080p,12mp] [--concurrency 4]`

All in one run, on this machine, on the same generated photos (`sitelens.field_photos`), per size:

1. **decode ceiling**: JPEG decode (reduced as the det size allows) + det resize/normalise, photos/s on all
   cores (one spawned process per core, one OpenCV thread each);
2. **model ceiling**: det + line classifier + rec on pre-decoded photos, photos/s at the best batch size;
3. **node**: the real start task launches the real server; `concurrency` task processes at a time
   (`python -m batch_tasks.task`, as Batch runs them with that many task slots) each read one photo and
   write result.json + overlay.jpg to Azurite and post the completion message;
4. **naive**: the same tasks with `--in-process`: each process imports ONNX Runtime and OpenCV, creates the
   sessions, reads its photo, writes the same artifacts, exits (the official Batch samples' shape).

Reported: node / naive (bar >= 3x on CPU, >= 100x on GPU) and node / min(ceilings) (bar ≥ 85 %). A task
that exits non-zero stops the run with its error: a failed task's photos/s is not a photo's.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueClient

from batch_tasks import protocol
from batch_tasks.ocr import det_pre, imaging
from batch_tasks.ocr.engine import OcrEngine
from batch_tasks.ocr.opencv import cv2
from emulators.azurite import Azurite, free_ports
from sitelens import field_photos

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / "models" / "ocr" / "ppocrv4"


def machine() -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    gpu = None
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10, check=True)  # fmt: skip
        gpu = out.stdout.strip() or None
    return {"cpu": cpu, "cores": os.cpu_count(), "gpu": gpu, "python": platform.python_version()}


# --- ceilings --------------------------------------------------------------------------------------------
_settings: Any = None


def _init_decoder(model: str) -> None:
    global _settings  # noqa: PLW0603 (per worker process)
    cv2.setNumThreads(1)
    from batch_tasks.models.manifest import load  # noqa: PLC0415 (in the worker)
    from batch_tasks.ocr.settings import from_manifest  # noqa: PLC0415

    _settings = from_manifest(load(Path(model), verify=False)).det


def _decode_and_prepare(path: str) -> int:
    image = imaging.decode(Path(path).read_bytes(), _settings.decode_long_side)
    return int(det_pre.prepare(image.pixels, _settings).tensor.shape[-1])


def decode_ceiling(paths: list[Path], repeats: int) -> float:
    cores = os.cpu_count() or 1
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(cores, mp_context=ctx, initializer=_init_decoder, initargs=(str(MODEL),)) as pool:
        list(pool.map(_decode_and_prepare, [str(p) for p in paths[:cores]]))  # start and warm every worker
        work = [str(p) for p in paths] * repeats
        started = time.perf_counter()
        list(pool.map(_decode_and_prepare, work, chunksize=1))
        return len(work) / (time.perf_counter() - started)


def model_ceiling(paths: list[Path], provider: list[str] | None) -> tuple[float, int, dict[str, float]]:
    engine = OcrEngine.load(MODEL, provider)
    engine.warm()
    images = [engine.decode(p.read_bytes()) for p in paths]
    by_size: dict[str, float] = {}
    for batch in sorted({1, 2, 4, 8, *engine.settings.det.batch_sizes}):
        engine.run_batch(images[:batch], with_overlay=False)  # this batch size's shapes, once
        started = time.perf_counter()
        for i in range(0, len(images), batch):
            engine.run_batch(images[i : i + batch], with_overlay=False)
        by_size[str(batch)] = len(images) / (time.perf_counter() - started)
    best = max(by_size, key=lambda k: by_size[k])
    return by_size[best], int(best), by_size


# --- tasks -------------------------------------------------------------------------------------------------
def _run_tasks(paths: list[Path], env: dict[str, str], concurrency: int, extra: list[str]) -> tuple[float, list[int]]:
    """Photos/s of `paths` through task processes, `concurrency` at a time, and their exit codes (all 0).

    Raises if any task failed: a failed task returns early, so its photos/s would be no photo's.
    """

    def one(i_path: tuple[int, Path]) -> subprocess.CompletedProcess[bytes]:
        i, path = i_path
        job = f"j_bench{os.getpid()}{i:06d}{int(time.time() * 1000) % 100000:05d}"
        return subprocess.run([sys.executable, "-m", "batch_tasks.task", job, str(path), *extra],
                              env=env, capture_output=True, timeout=900, check=False)  # fmt: skip

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        done = list(pool.map(one, enumerate(paths)))
    rate = len(paths) / (time.perf_counter() - started)
    codes = [task.returncode for task in done]
    failed = [task for task in done if task.returncode != 0]
    if failed:
        stderr = failed[0].stderr.decode(errors="replace")[-3000:]
        raise RuntimeError(f"{len(failed)} of {len(done)} tasks failed, exit codes {sorted(set(codes))}: {stderr}")
    return rate, codes


@contextlib.contextmanager
def node_server(env: dict[str, str]) -> Iterator[Path]:
    shared = Path(env["AZ_BATCH_NODE_SHARED_DIR"])
    started = subprocess.run([sys.executable, "-m", "batch_tasks.start", "--supervisor", "detached"],
                             env=env, capture_output=True, text=True, timeout=900, check=False)  # fmt: skip
    if started.returncode != 0:
        raise RuntimeError(f"the node server did not start: {started.stderr[-3000:]}")
    try:
        yield shared / protocol.SOCKET_NAME
    finally:
        with contextlib.suppress(OSError, ValueError):
            os.kill(int((shared / "sitelens-server.pid").read_text()), 15)


def bench_size(size: str, args: argparse.Namespace, storage: str, work: Path) -> dict[str, Any]:
    folder = work / size
    folder.mkdir()
    photos = field_photos.photo_set(args.photos, seed=11, size=size)
    paths = []
    for p in photos:
        paths.append(folder / f"{p.name}.jpg")
        paths[-1].write_bytes(p.jpeg)
    provider = None if args.provider == "auto" else [f"{args.provider.upper()}ExecutionProvider"]
    decode = decode_ceiling(paths, args.repeats)
    model, best_batch, by_batch = model_ceiling(paths, provider)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SITELENS_", "AZ_BATCH_"))}
    env |= {"AZ_BATCH_NODE_SHARED_DIR": str(work / f"node-{size}"), "SITELENS_MODELS_DIR": str(REPO / "models"),
            "SITELENS_STORAGE_CONNECTION": storage, "SITELENS_PROVIDER": args.provider,
            "SITELENS_MAX_BATCH": str(best_batch)}  # fmt: skip
    with node_server(env) as socket:
        node, codes = _run_tasks(paths, env, args.concurrency, [])
        health = protocol.call(socket, {"op": "health"}, 10)
    naive_paths = paths[: args.naive]
    naive, naive_codes = _run_tasks(naive_paths, env, args.concurrency, ["--in-process"])
    ceiling = min(decode, model)
    return {
        "size": size, "photos": len(paths), "mean_jpeg_bytes": round(sum(len(p.jpeg) for p in photos) / len(photos)),
        "decode_ceiling_photos_s": round(decode, 2), "model_ceiling_photos_s": round(model, 2),
        "model_photos_s_by_batch": {k: round(v, 2) for k, v in by_batch.items()}, "best_batch": best_batch,
        "node_photos_s": round(node, 2), "naive_photos_s": round(naive, 3), "naive_photos": len(naive_paths),
        "node_over_naive": round(node / naive, 2), "node_over_ceiling": round(node / ceiling, 3),
        "ceiling": "decode" if decode < model else "model", "provider": health["models"][0]["provider"],
        "node_batching": health["models"][0]["batching"],
        "task_exit_codes": sorted(set(codes)), "naive_exit_codes": sorted(set(naive_codes)),
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.node_throughput", description=__doc__.split("\n")[0])
    p.add_argument("--photos", type=int, default=16)
    p.add_argument("--naive", type=int, default=8, help="photos for the naive task (it is slow)")
    p.add_argument("--sizes", default="1080p,12mp")
    p.add_argument("--concurrency", type=int, default=4, help="task slots: tasks running at once")
    p.add_argument("--repeats", type=int, default=3, help="passes over the photos for the decode ceiling")
    p.add_argument("--provider", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--out", type=Path, default=REPO / ".local" / "benchmarks" / "node_throughput.json")
    args = p.parse_args(argv)
    report: dict[str, Any] = {"benchmark": "node_throughput", "machine": machine(), "concurrency": args.concurrency,
                              "sizes": []}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="sitelens-bench-") as tmp:
        work = Path(tmp)
        blob_port, queue_port, table_port = free_ports(3)
        with Azurite.start(
            REPO, work / "azurite", (blob_port, queue_port, table_port), log_file=work / "azurite.log"
        ) as azurite:
            storage = azurite.connection_string
            with contextlib.suppress(ResourceExistsError):
                BlobServiceClient.from_connection_string(storage).create_container("results")
            with contextlib.suppress(ResourceExistsError):
                QueueClient.from_connection_string(storage, "completions").create_queue()
            for size in args.sizes.split(","):
                row = bench_size(size, args, storage, work)
                report["sizes"].append(row)
                print(json.dumps(row), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"machine: {report['machine']}")
    for r in report["sizes"]:
        print(f"{r['size']:>6}: node {r['node_photos_s']}/s, naive {r['naive_photos_s']}/s "
              f"(x{r['node_over_naive']}); ceilings decode {r['decode_ceiling_photos_s']}/s, model "
              f"{r['model_ceiling_photos_s']}/s at batch {r['best_batch']}; "
              f"node/ceiling {r['node_over_ceiling']:.0%}")  # fmt: skip
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
