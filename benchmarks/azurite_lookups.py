"""What one storage request costs Azurite as the account fills: the local stack's cost that can grow with a run.

Azurite keeps metadata in one in-memory LokiJS collection per account (blobs) or per table, and finds an
item through the index of the first key in its query. Azurite 3.35 looked a blob up by account first, which
every blob matched, so each blob request cost more as blobs accumulated (a photo leaves five: the photo,
its blob scan receipt, the derived input, the result, the overlay); 3.36, which the project pins, looks it
up by name. 3.36 looks a table entity up by RowKey first, so a point read filters every row sharing its
RowKey, as the `jobs` table's job rows (RowKey `job`) and the rows written here do.

The account is filled in steps (`--steps`, blobs and table rows alike); at each step Azurite's own CPU time
(`/proc/<pid>/stat`) is read around `--reads` Get Blob Properties, table point reads and
single-partition queries. Reported: milliseconds of Azurite CPU per request at each step, and each as a
ratio to the first step's, with the machine. Printed and written to `.local/benchmarks/azurite_lookups.json`.
Run: `.venv/bin/python -m benchmarks.azurite_lookups [--steps 1000 5000 20000] [--reads 50]`.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from azure.data.tables import TableClient, TableServiceClient
from azure.storage.blob import BlobServiceClient, ContainerClient

from benchmarks.pipeline_burst import machine
from emulators.azurite import Azurite, free_ports

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / ".local" / "benchmarks" / "azurite_lookups.json"


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fill(blobs: ContainerClient, table: TableClient, start: int, stop: int) -> None:
    def one(i: int) -> None:
        blobs.upload_blob(f"site/dev/{i:06d}.jpg", b"x")
        table.create_entity({"PartitionKey": f"j_{i:06d}", "RowKey": "job", "State": "SUCCEEDED"})

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(start, stop)))


def per_request_ms(pid: int, reads: int, request: Callable[[int], object]) -> float:
    before = cpu_s(pid)
    for i in range(reads):
        request(i)
    return (cpu_s(pid) - before) / reads * 1000


def requests_at(pid: int, blobs: ContainerClient, table: TableClient, filled: int, reads: int) -> dict[str, Any]:
    spread = max(1, filled // reads)  # names across the whole account, not only the first ones written

    def blob(i: int) -> object:
        return blobs.get_blob_client(f"site/dev/{i * spread:06d}.jpg").get_blob_properties()

    def point_read(i: int) -> object:
        return table.get_entity(f"j_{i * spread:06d}", "job")

    def partition_query(i: int) -> object:
        return list(table.query_entities("PartitionKey eq @pk", parameters={"pk": f"j_{i * spread:06d}"}))

    return {
        "blobs_and_rows": filled,
        "blob_properties_ms": per_request_ms(pid, reads, blob),
        "table_point_read_ms": per_request_ms(pid, reads, point_read),
        "table_partition_query_ms": per_request_ms(pid, reads, partition_query),
    }


def measure(steps: list[int], reads: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        blob_port, queue_port, table_port = free_ports(3)
        azurite = Azurite.start(REPO, Path(folder), (blob_port, queue_port, table_port), in_memory=True)
        try:
            pid = azurite.child.pid
            assert pid is not None
            blobs = BlobServiceClient.from_connection_string(azurite.connection_string).create_container("photos")
            table = TableServiceClient.from_connection_string(azurite.connection_string).create_table("jobs")
            rows, filled = [], 0
            for step in steps:
                fill(blobs, table, filled, step)
                filled = step
                rows.append(requests_at(pid, blobs, table, step, reads))
        finally:
            azurite.stop()
    first = rows[0]
    for row in rows:
        for key in ("blob_properties_ms", "table_point_read_ms", "table_partition_query_ms"):
            row[key.replace("_ms", "_ratio")] = round(row[key] / first[key], 2) if first[key] else None
            row[key] = round(row[key], 2)
    return {"benchmark": "azurite_lookups", "reads_per_step": reads, "steps": rows, "machine": machine()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, nargs="+", default=[1000, 5000, 20000], help="blobs and rows at each step")
    p.add_argument("--reads", type=int, default=50, help="requests of each kind measured at each step")
    args = p.parse_args(argv)
    report = measure(sorted(args.steps), args.reads)
    for row in report["steps"]:
        print(f"{row['blobs_and_rows']:>7} blobs and rows: Azurite CPU per request, ms (ratio to the first step): "
              f"blob properties {row['blob_properties_ms']} ({row['blob_properties_ratio']}), "
              f"table point read {row['table_point_read_ms']} ({row['table_point_read_ratio']}), "
              f"partition query {row['table_partition_query_ms']} ({row['table_partition_query_ratio']})")  # fmt: skip
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
