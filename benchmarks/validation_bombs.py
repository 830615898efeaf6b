"""Validation under scan bombs: how long an ordinary photo waits behind a hostile sender's files.

`python -m benchmarks.validation_bombs [--hostile 4] [--size 4000x3000] [--repeats 6000]`

All in one run, on this machine: one sender uploads `hostile` progressive JPEGs whose smallest scan is repeated
`repeats` times (the shape of a 392 KB, 20,000-scan file that decoded for 75 s); while they are in flight a
12 MP field photo from another site arrives. Its latency (arrival to verdict) is measured:

1. **alone**: no hostile files;
2. **before**: the structure checks disabled through `Limits` (no scan cap, no budget) and the decode slots a
   plain semaphore, as they were;
3. **fair slots only**: the checks still disabled, the slots shared fairly between sites;
4. **after**: the defaults (the bombs are refused from their structure, before any decode).

Reported: before / after and before / fair-slots latency ratios, and the wait (latency minus alone) of each.
Also the slowest file the defaults admit that this benchmark knows how to build (a 48 MP progressive 4:4:4
JPEG of a field photo, its last luma refinement scan repeated as often as the decode budget allows) against
the same photo's plain progressive decode; and the cost of isolating the decode in another process (what a
hard wall-clock bound on OpenCV's decode would need, since a decode in a thread cannot be interrupted): a
process spawned per photo, and a warm worker process, each against the in-process decode of the same photo.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import multiprocessing
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from batch_tasks.ocr.opencv import cv2
from benchmarks.node_throughput import machine
from shared.validation import Limits, QualityPolicy, Rejected, jpeg_structure, validate
from shared.validation.slots import FairSlots
from shared.validation.structure import Structure
from shared.validation.validator import DECODE_SLOTS, Slots
from sitelens import field_photos
from tests.unit.validation.images import jpeg_scans, scan_bomb

REPO = Path(__file__).resolve().parents[1]
UNCHECKED = Limits(max_scans=10**9, max_decode_cost=10**18)
ORDINARY = "north-yard/cam-1/2026/11/22/IMG_0001.jpg"


class Arrivals:
    """Counts hostile deliveries that have reached a decode slot or a verdict, so the ordinary photo arrives
    after all of them are in flight."""

    def __init__(self) -> None:
        self._count, self._changed = 0, threading.Condition()

    def one(self) -> None:
        with self._changed:
            self._count += 1
            self._changed.notify_all()

    def wait_for(self, count: int) -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: self._count >= count, timeout=600):
                raise TimeoutError("hostile deliveries did not arrive")


class Counted:
    """Slots that note each arrival before waiting for one."""

    def __init__(self, inner: Slots, arrivals: Arrivals) -> None:
        self.inner, self.arrivals = inner, arrivals

    @contextlib.contextmanager
    def hold(self, site: str, weight: int = 0) -> Iterator[None]:
        if site == "hostile":
            self.arrivals.one()
        with self.inner.hold(site, weight):
            yield


class Semaphore:
    """The slots as they were: one semaphore, whoever wakes first."""

    def __init__(self, count: int) -> None:
        self._semaphore = threading.BoundedSemaphore(count)

    @contextlib.contextmanager
    def hold(self, site: str, weight: int = 0) -> Iterator[None]:
        with self._semaphore:
            yield


def latency(ordinary: bytes, bombs: list[bytes], limits: Limits, slots: Slots) -> tuple[float, list[str]]:
    """Seconds from the ordinary photo's arrival to its verdict, with `bombs` in flight; the bombs' codes."""
    arrivals = Arrivals()
    counted = Counted(slots, arrivals)
    outcomes: list[str] = []

    def hostile(n: int, data: bytes) -> None:
        verdict = validate(f"hostile/cam/2026/11/22/p{n}.jpg", len(data), lambda: data, limits, QualityPolicy(),
                           slots=counted)  # fmt: skip
        if isinstance(verdict, Rejected):
            arrivals.one()  # refused before reaching a slot
        outcomes.append(verdict.reason.value if isinstance(verdict, Rejected) else "accepted")

    threads = [threading.Thread(target=hostile, args=(n, b)) for n, b in enumerate(bombs)]
    for thread in threads:
        thread.start()
    arrivals.wait_for(len(bombs))
    started = time.perf_counter()
    verdict = validate(ORDINARY, len(ordinary), lambda: ordinary, limits, QualityPolicy(), slots=counted)
    took = time.perf_counter() - started
    if isinstance(verdict, Rejected):
        raise RuntimeError(f"the ordinary photo was refused: {verdict}")
    for thread in threads:
        thread.join()
    return took, outcomes


def isolation_costs(data: bytes, runs: int) -> dict[str, float]:
    """Best-of-`runs` seconds to decode `data` in this process, in a process spawned for it, in a warm worker."""

    def best(call: Any) -> float:
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            call()
            times.append(time.perf_counter() - started)
        return min(times)

    code = (
        "import sys, numpy as np; from batch_tasks.ocr.opencv import cv2; d = sys.stdin.buffer.read(); "
        "sys.stdout.buffer.write(cv2.imdecode(np.frombuffer(d, np.uint8), cv2.IMREAD_COLOR).tobytes())"
    )
    spawned = [sys.executable, "-c", code]

    def spawn() -> None:
        subprocess.run(spawned, input=data, capture_output=True, check=True, cwd=REPO)

    with multiprocessing.get_context("spawn").Pool(1) as pool:
        pool.apply(_decode, (data,))  # imports done
        return {
            "in_process_s": best(lambda: _decode(data)),
            "spawned_per_photo_s": best(spawn),
            "warm_worker_s": best(lambda: pool.apply(_decode, (data,))),
        }


def slowest_admitted(runs: int) -> dict[str, Any]:
    """Decode seconds of the plain 48 MP progressive photo and of its costliest variant the defaults admit."""
    tile = np.asarray(_decode(field_photos.render(3, "12mp").jpeg), dtype=np.uint8)
    pixels = np.ascontiguousarray(np.tile(tile, (3, 2, 1))[:6000, :8000, ::-1])
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=90, progressive=True, subsampling=0)
    plain, limits = out.getvalue(), Limits()
    refine = jpeg_scans(plain)[-1]
    admitted = plain
    while True:
        bigger = admitted[:-2] + refine + admitted[-2:]
        structure = jpeg_structure.survey(bigger, limits.max_scans)
        if not isinstance(structure, Structure) or structure.decode_cost > limits.max_decode_cost:
            break
        admitted = bigger
    structure = jpeg_structure.survey(admitted, limits.max_scans)
    assert isinstance(structure, Structure) and len(admitted) <= limits.max_bytes
    seconds = {}
    for label, data in (("plain", plain), ("admitted", admitted)):
        seconds[label] = min(_timed(data) for _ in range(runs))
    return {"plain_s": round(seconds["plain"], 3), "admitted_s": round(seconds["admitted"], 3),
            "admitted_scans": structure.scans, "admitted_cost": structure.decode_cost, "admitted_bytes": len(admitted),
            "ratio": round(seconds["admitted"] / seconds["plain"], 1)}  # fmt: skip


def _timed(data: bytes) -> float:
    started = time.perf_counter()
    _decode(data)
    return time.perf_counter() - started


def _decode(data: bytes) -> Any:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hostile", type=int, default=4, help="scan bombs in flight from one sender")
    p.add_argument("--size", default="4000x3000", help="each bomb's width x height")
    p.add_argument("--repeats", type=int, default=6000, help="times each bomb repeats its smallest scan")
    p.add_argument("--runs", type=int, default=3, help="runs per figure; the best is reported")
    p.add_argument("--out", type=Path, default=REPO / ".local" / "benchmarks" / "validation_bombs.json")
    args = p.parse_args()
    width, height = (int(n) for n in args.size.split("x"))
    bomb = scan_bomb(width, height, args.repeats)
    bombs = [bomb] * args.hostile
    ordinary = field_photos.render(3, "12mp").jpeg
    slots = DECODE_SLOTS.count

    def figure(label: str, hostile: list[bytes], limits: Limits, make_slots: Any) -> dict[str, Any]:
        runs = [latency(ordinary, hostile, limits, make_slots(slots)) for _ in range(args.runs)]
        row = {"scenario": label, "latency_s": round(min(t for t, _ in runs), 3), "hostile": sorted(set(runs[0][1]))}
        print(json.dumps(row), flush=True)
        return row

    rows = [
        figure("alone", [], Limits(), FairSlots),
        figure("before", bombs, UNCHECKED, Semaphore),
        figure("fair_slots_only", bombs, UNCHECKED, FairSlots),
        figure("after", bombs, Limits(), FairSlots),
    ]
    by = {r["scenario"]: r["latency_s"] for r in rows}
    isolation = isolation_costs(ordinary, args.runs)
    slowest = slowest_admitted(args.runs)
    report = {
        "benchmark": "validation_bombs",
        "machine": machine(),
        "setup": {
            "hostile": args.hostile,
            "bomb_size": args.size,
            "bomb_bytes": len(bomb),
            "bomb_scans": args.repeats + 10,
            "ordinary_bytes": len(ordinary),
            "decode_slots": slots,
        },
        "scenarios": rows,
        "wait_s": {k: round(v - by["alone"], 3) for k, v in by.items() if k != "alone"},
        "ratios": {
            "before_over_after": round(by["before"] / by["after"], 1),
            "before_over_fair_slots_only": round(by["before"] / by["fair_slots_only"], 1),
            "after_over_alone": round(by["after"] / by["alone"], 2),
            "spawned_per_photo_over_in_process": round(isolation["spawned_per_photo_s"] / isolation["in_process_s"], 1),
            "warm_worker_over_in_process": round(isolation["warm_worker_s"] / isolation["in_process_s"], 1),
            "slowest_admitted_over_plain": slowest["ratio"],
        },
        "isolation_s": {k: round(v, 3) for k, v in isolation.items()},
        "slowest_admitted": slowest,
    }
    print(json.dumps(report, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
