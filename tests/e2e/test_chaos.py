"""The chaos run, small: 200 photos through a local stack of its own while every fault kind is injected
(SIGKILLed host, Batch service, node servers and task clients; storage requests reset, dropped, delayed
and refused through the fault proxy; duplicate uploads and events; a webhook receiver answering 500,
timing out and down). Nothing accepted may be lost and nothing may happen twice.

`make chaos` is the full run (2,000 photos, docs/reliability.md); this one keeps `make test` honest about
the same guarantees. The kill intervals are halved and one of each kind is enough, to keep the run short."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from sitelens import chaos
from sitelens.chaos_faults import KINDS

pytestmark = pytest.mark.e2e
PHOTOS = 200
EVERY_KIND = (*KINDS, "reset", "drop", "delay", "storage_write_refused", "webhook_500", "webhook_timeout",
              "duplicate_upload", "duplicate_event")  # fmt: skip


# The run's own deadline (900 s) bounds it; the suite's per-test default (300 s) is for single cases.
@pytest.mark.timeout(1000)
def test_two_hundred_photos_under_every_fault_kind_lose_nothing_and_double_nothing(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    chaos.register(parser.add_subparsers())  # the command's own defaults: photo size, devices, nodes
    out = str(tmp_path / "chaos.json")
    args = parser.parse_args(["chaos", "--photos", str(PHOTOS), "--seed", "11", "--fault-scale", "0.5",
                              "--min-faults", "1", "--deadline", "900", "--out", out])  # fmt: skip
    report = chaos.chaos(args)
    summary = json.dumps({k: report[k] for k in ("faults", "terminal_states", "lost", "doubled", "errors")})
    assert report["errors"] == [], summary
    assert report["photos_uploaded"] == PHOTOS, summary
    assert report["lost"] == [], summary
    assert report["doubled"] == [], summary
    assert report["unsigned_deliveries"] == 0, summary
    assert sum(report["terminal_states"].values()) == report["jobs_accepted"] == PHOTOS, summary
    assert {kind for kind in EVERY_KIND if report["faults"].get(kind, 0) < 1} == set(), summary
