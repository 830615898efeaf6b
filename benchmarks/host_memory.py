"""Peak memory of the local Functions host while the blob trigger meets a photo far over the byte cap.

An upload SAS cannot cap a blob's size, so a device can write any size into `photos/`. Here the blob is
written as a device writes it: `POST /api/uploads` for a name and a SAS, then blocks staged through the
SAS (generated as they go, never whole in memory) and committed. The host's blob trigger (the real
function_app.py on the local host, Azurite behind it) runs ingestion, which rejects the job `too_large`.
The host process's peak resident set (`VmHWM` in /proc/<pid>/status) is read before the upload and after
the rejection. The baseline, in the same run and the same host, is a photo just over the cap.

Reported: each blob's size and the growth of the host's peak, the growth as a fraction of the blob's
size (a host that downloads the blob grows by at least its size), and the machine. Printed and written to
`.local/benchmarks/host_memory.json`. Run: `.venv/bin/python -m benchmarks.host_memory [--mib 288]`.
"""

from __future__ import annotations

import argparse
import base64
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from azure.storage.blob import BlobBlock, BlobClient, ContentSettings

from benchmarks.pipeline_burst import machine
from emulators.azurite import Azurite, free_port, free_ports
from emulators.functions_host.launcher import FunctionsHostProcess
from sitelens.api_client import ApiClient

REPO = Path(__file__).resolve().parents[1]
MIB = 1024 * 1024
BLOCK = 8 * MIB
CAP = 8 * MIB  # the byte cap the host's app runs with: a 12 MP photo is 2-3 MB
HOST_KEY = "bench-host-key"
RARELY = "0 0 0 1 1 *"  # timers this measurement does not exercise


def prepare_app(dest: Path, connection: str, tag: str) -> Path:
    """The real app (function_app.py, host.json, shared/) in a folder with this run's settings."""
    dest.mkdir(parents=True)
    for name in ("function_app.py", "host.json"):
        shutil.copy(REPO / name, dest / name)
    (dest / "shared").symlink_to(REPO / "shared")
    values = {
        "AzureWebJobsStorage": connection,
        "AzureFunctionsWebHost__hostid": f"mem-{tag}",
        "SITELENS_TABLE_PREFIX": f"m{tag}",
        "SITELENS_MAX_PHOTO_BYTES": str(CAP),
        "SITELENS_RECONCILE_SCHEDULE": RARELY,
        "SITELENS_RECORDS_EXPIRY_SCHEDULE": RARELY,
        "SITELENS_WEBHOOK_SWEEP_SCHEDULE": RARELY,
        # A too-large photo is rejected before submission: this loopback endpoint is never called.
        "SITELENS_BATCH_URL": f"http://127.0.0.1:{free_port()}",
        "SITELENS_BATCH_ACCOUNT": "bench",
        "SITELENS_BATCH_KEY": base64.b64encode(b"never-used").decode(),
    }
    keys = {"master": "bench-master", "host": {"default": HOST_KEY}}
    settings = {"IsEncrypted": False, "Values": values, "Keys": keys}
    (dest / "local.settings.json").write_text(json.dumps(settings))
    return dest


def peak_rss_kib(pid: int) -> int:
    """The process's high-water mark of resident memory (Linux), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmHWM for process {pid}")


def write_through_sas(api: ApiClient, site: str, size: int) -> str:
    """Reserve a name and write `size` bytes through its SAS as blocks made on the fly; the blob's name."""
    doc = api.post("/uploads", {"site_id": site, "device_id": "cam1", "photo_id": f"big{size}"})
    blob = BlobClient.from_blob_url(doc["upload_url"])
    chunk = b"\xff\xd8\xff\xe0" + bytes(BLOCK - 4)  # a JPEG's first bytes, then zeros: one buffer, reused
    ids: list[str] = []
    for index in range((size + BLOCK - 1) // BLOCK):
        ids.append(base64.b64encode(f"{index:08d}".encode()).decode())
        blob.stage_block(ids[-1], chunk[: min(BLOCK, size - index * BLOCK)])
    blocks = [BlobBlock(block_id=i) for i in ids]
    blob.commit_block_list(blocks, content_settings=ContentSettings(content_type="image/jpeg"))
    return str(doc["blob_name"])


def wait_terminal(api: ApiClient, site: str, timeout_s: float) -> dict[str, Any]:
    """The site's one job, once it is terminal (a condition with a deadline)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        jobs = api.site_jobs(site)
        if jobs and jobs[0]["state"] in ("SUCCEEDED", "FAILED", "REJECTED"):
            return jobs[0]
        time.sleep(0.2)  # the poll period of the condition
    raise TimeoutError(f"no terminal job for site {site} within {timeout_s:.0f} s")


def measure_blob(api: ApiClient, pid: int, site: str, size: int, timeout_s: float) -> dict[str, Any]:
    before = peak_rss_kib(pid)
    name = write_through_sas(api, site, size)
    job = wait_terminal(api, site, timeout_s)
    after = peak_rss_kib(pid)
    return {
        "blob": name,
        "blob_bytes": size,
        "state": job["state"],
        "reason": job.get("reason"),
        "peak_rss_before_kib": before,
        "peak_rss_after_kib": after,
        "peak_growth_kib": after - before,
        "peak_growth_over_blob": round((after - before) * 1024 / size, 4),
    }


def measure(connection: str, work_dir: Path, big_bytes: int, tag: str, timeout_s: float = 240.0) -> dict[str, Any]:
    """Start the host on the real app, then measure a photo just over the cap and one of `big_bytes`."""
    app = prepare_app(work_dir / "app", connection, tag)
    host = FunctionsHostProcess(app, free_port(), work_dir / "host.log", cwd=REPO,
                                extra_args=["--blob-scan-interval", "0.5"])  # fmt: skip
    host.start()
    try:
        assert host.process is not None
        api = ApiClient(f"{host.url}/api", HOST_KEY)
        baseline = measure_blob(api, host.process.pid, f"base-{tag}", CAP + MIB, timeout_s)
        big = measure_blob(api, host.process.pid, f"big-{tag}", big_bytes, timeout_s)
    finally:
        host.stop()
    return {"cap_bytes": CAP, "baseline": baseline, "big": big, "host_log": str(work_dir / "host.log")}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.host_memory", description=__doc__.split("\n")[0])
    p.add_argument("--mib", type=int, default=288, help="size of the big blob in MiB (default 288, ~300 MB)")
    p.add_argument("--machine", default=None, help="a description of this machine for the summary")
    p.add_argument("--out", type=Path, default=REPO / ".local" / "benchmarks" / "host_memory.json",
                   help="where the JSON summary is written too")  # fmt: skip
    args = p.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="sitelens-hostmem-"))
    try:
        blob_port, queue_port, table_port = free_ports(3)
        (folder / "azurite").mkdir()
        with Azurite.start(
            REPO, folder / "azurite", (blob_port, queue_port, table_port), log_file=folder / "azurite.log"
        ) as azurite:
            run = measure(azurite.connection_string, folder / "run", args.mib * MIB, "bench")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    run.pop("host_log")
    summary = {
        "benchmark": "host_memory",
        "machine": {**machine(), **({"description": args.machine} if args.machine else {})},
        **run,
        # How much more the peak grew for the big blob than for the baseline, per byte of extra size.
        "extra_growth_over_extra_bytes": round(
            (run["big"]["peak_growth_kib"] - run["baseline"]["peak_growth_kib"])
            * 1024
            / (run["big"]["blob_bytes"] - run["baseline"]["blob_bytes"]),
            4,
        ),
    }
    text = json.dumps(summary, indent=2)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    return 0 if run["big"]["reason"] == "too_large" else 1


if __name__ == "__main__":
    sys.exit(main())
