"""Telemetry's cost on the node: throughput with telemetry on and off, same photos, same run.

`python -m benchmarks.telemetry_overhead [--photos 16] [--rounds 3] [--concurrency 4] [--size 1080p]`

The real start task launches the real node server against Azurite; thin task processes
(`python -m batch_tasks.task`, with a `TRACEPARENT` as Batch gives them) each read one photo, write its
artifacts and post its completion. Rounds alternate off, on, off, on ... so drift on a shared machine hits
both alike; a fresh server per round. "on" exports every span, metric and log line to JSON-lines files
(`SITELENS_TELEMETRY_DIR`), every trace sampled: the most the node does. "off" is `SITELENS_TELEMETRY=off`.
Reported: the median photos/s of each and on / off (the bar: at least 0.97), and the node server's own CPU
seconds per photo (the server and its decode workers, from /proc through psutil), which a machine shared
with other work disturbs far less than wall-clock throughput.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]  # pinned in constraints.txt (a dependency of the telemetry distro)
from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueClient

from benchmarks.node_throughput import REPO, _run_tasks, machine, node_server
from emulators.azurite import Azurite, free_ports
from sitelens import field_photos

BAR = 0.97


def _cpu_s(pid: int) -> float:
    """CPU seconds the server process and its live children (decode workers) have used so far."""
    server = psutil.Process(pid)
    return sum(sum(p.cpu_times()[:2]) for p in [server, *server.children(recursive=True)])


def _round(
    mode: str, i: int, paths: list[Path], base: dict[str, str], *, work: Path, concurrency: int
) -> tuple[float, float]:
    env = dict(base) | {"AZ_BATCH_NODE_SHARED_DIR": str(work / f"node-{mode}-{i}"),
                        "TRACEPARENT": f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"}  # fmt: skip
    if mode == "on":
        env |= {"SITELENS_TELEMETRY_DIR": str(work / f"telemetry-{i}"), "OTEL_TRACES_SAMPLER": "parentbased_always_on"}
    else:
        env["SITELENS_TELEMETRY"] = "off"
    with node_server(env):
        _run_tasks(paths[:2], env, concurrency, [])  # the first photos through a fresh server pay for its caches
        pid = int((Path(env["AZ_BATCH_NODE_SHARED_DIR"]) / "sitelens-server.pid").read_text())
        before = _cpu_s(pid)
        rate, codes = _run_tasks(paths, env, concurrency, [])
        cpu_per_photo = (_cpu_s(pid) - before) / len(paths)
    if set(codes) != {0}:
        raise RuntimeError(f"tasks exited {sorted(set(codes))} with telemetry {mode}")
    return rate, cpu_per_photo


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.telemetry_overhead", description=__doc__.split("\n")[0])
    p.add_argument("--photos", type=int, default=16)
    p.add_argument("--rounds", type=int, default=3, help="rounds of each mode, alternating")
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--size", default="1080p")
    p.add_argument("--out", type=Path, default=REPO / ".local" / "benchmarks" / "telemetry_overhead.json")
    args = p.parse_args(argv)
    rates: dict[str, list[float]] = {"off": [], "on": []}
    cpu: dict[str, list[float]] = {"off": [], "on": []}
    with tempfile.TemporaryDirectory(prefix="sitelens-bench-") as tmp:
        work = Path(tmp)
        paths = []
        for photo in field_photos.photo_set(args.photos, seed=13, size=args.size):
            paths.append(work / f"{photo.name}.jpg")
            paths[-1].write_bytes(photo.jpeg)
        blob_port, queue_port, table_port = free_ports(3)
        with Azurite.start(REPO, work / "azurite", (blob_port, queue_port, table_port),
                           log_file=work / "azurite.log") as azurite:  # fmt: skip
            storage = azurite.connection_string
            with contextlib.suppress(ResourceExistsError):
                BlobServiceClient.from_connection_string(storage).create_container("results")
            with contextlib.suppress(ResourceExistsError):
                QueueClient.from_connection_string(storage, "completions").create_queue()
            base = {k: v for k, v in os.environ.items() if not k.startswith(("SITELENS_", "AZ_BATCH_", "OTEL_"))}
            base |= {"SITELENS_MODELS_DIR": str(REPO / "models"), "SITELENS_STORAGE_CONNECTION": storage,
                     "SITELENS_PROVIDER": "auto"}  # fmt: skip
            for i in range(args.rounds):
                for mode in ("off", "on") if i % 2 == 0 else ("on", "off"):
                    rate, cpu_s = _round(mode, i, paths, base, work=work, concurrency=args.concurrency)
                    rates[mode].append(rate)
                    cpu[mode].append(cpu_s)
                    print(f"round {i + 1} telemetry {mode}: {rate:.2f} photos/s, server {cpu_s:.3f} CPU s/photo",
                          flush=True)  # fmt: skip
    off, on = statistics.median(rates["off"]), statistics.median(rates["on"])
    cpu_off, cpu_on = statistics.median(cpu["off"]), statistics.median(cpu["on"])
    report: dict[str, Any] = {
        "benchmark": "telemetry_overhead", "machine": machine(), "photos": args.photos, "size": args.size,
        "concurrency": args.concurrency, "rates_photos_s": rates, "off_photos_s": round(off, 3),
        "on_photos_s": round(on, 3), "on_over_off": round(on / off, 3), "bar": BAR,
        "server_cpu_s_per_photo": cpu, "server_cpu_on_over_off": round(cpu_on / cpu_off, 3),
    }  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"machine: {report['machine']}")
    print(f"node throughput: telemetry off {off:.2f} photos/s, on {on:.2f} photos/s (median of {args.rounds}); "
          f"on/off {on / off:.3f} ({'within' if on / off >= BAR else 'OUTSIDE'} the {1 - BAR:.0%} budget)")  # fmt: skip
    print(f"node server CPU per photo: off {cpu_off:.3f} s, on {cpu_on:.3f} s; on/off {cpu_on / cpu_off:.3f}")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
