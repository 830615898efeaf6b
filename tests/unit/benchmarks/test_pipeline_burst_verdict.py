"""`benchmarks.pipeline_burst`: a burst is within the bar only if every photo's job SUCCEEDED, and a burst
cut off before every job was terminal has no wall time.

The stack run and the baseline are replaced by fakes returning crafted figures; the summary is the one
`main` writes.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from benchmarks import pipeline_burst
from sitelens import field_photos

STARTED = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
PURE_S = 10.0


def job(state: str, finished_after_s: float | None) -> dict[str, Any]:
    finished = None if finished_after_s is None else (STARTED + timedelta(seconds=finished_after_s)).isoformat()
    return {"state": state, "timings": {"finished_at": finished}}


def pipeline_run(states: dict[str, int], wall_s: float | None, all_terminal: bool) -> dict[str, Any]:
    return {"uploaded": sum(states.values()), "upload_failures": [], "states": states, "wall_s": wall_s,
            "pool": {"peak_nodes": 1, "first_node_ready_s": 2.0}, "all_terminal": all_terminal}  # fmt: skip


def summary_of(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, run: dict[str, Any], photos: int) -> dict[str, Any]:
    fake_photos = [SimpleNamespace(name=f"p{i}", jpeg=b"\xff\xd8") for i in range(photos)]
    monkeypatch.setattr(field_photos, "photo_set", lambda count, seed, size: fake_photos)
    monkeypatch.setattr(pipeline_burst, "burst", lambda folder, paths, uploaders, deadline_s: run)
    baseline = {"processes": 1, "pure_s": PURE_S, "per_photo_s": PURE_S / photos, "photos_read": photos}
    monkeypatch.setattr(pipeline_burst, "pure_inference", lambda paths, processes: baseline)
    out = tmp_path / "pipeline_burst.json"
    pipeline_burst.main(["--photos", str(photos), "--out", str(out)])
    return dict(json.loads(out.read_text()))


def test_a_fast_burst_with_a_failed_job_is_not_within_the_bar(monkeypatch, tmp_path):
    run = pipeline_run({"SUCCEEDED": 3, "FAILED": 1}, wall_s=11.0, all_terminal=True)
    summary = summary_of(monkeypatch, tmp_path, run, photos=4)
    assert summary["wall_over_pure"] == 1.1  # within 1.3 by time alone
    assert summary["within_bar"] is False


def test_a_burst_with_every_job_succeeded_in_time_is_within_the_bar(monkeypatch, tmp_path):
    run = pipeline_run({"SUCCEEDED": 4}, wall_s=11.0, all_terminal=True)
    summary = summary_of(monkeypatch, tmp_path, run, photos=4)
    assert summary["wall_over_pure"] == 1.1
    assert summary["within_bar"] is True


def test_a_burst_missing_a_photo_is_not_within_the_bar(monkeypatch, tmp_path):
    run = pipeline_run({"SUCCEEDED": 3}, wall_s=11.0, all_terminal=True)  # the fourth upload failed
    assert summary_of(monkeypatch, tmp_path, run, photos=4)["within_bar"] is False


def test_an_unfinished_burst_has_no_wall_time_nor_ratio(monkeypatch, tmp_path):
    done = [job("SUCCEEDED", 5.0)]
    run = pipeline_run({"SUCCEEDED": 1, "QUEUED": 3}, pipeline_burst.wall_time_s(done, 4, STARTED), all_terminal=False)
    assert run["wall_s"] is None
    summary = summary_of(monkeypatch, tmp_path, run, photos=4)
    assert summary["wall_over_pure"] is None and summary["wall_after_first_node_over_pure"] is None
    assert summary["within_bar"] is False


def test_wall_time_runs_to_the_last_finish_once_every_job_finished():
    done = [job("SUCCEEDED", 5.0), job("FAILED", 12.5), job("SUCCEEDED", 9.0)]
    assert pipeline_burst.wall_time_s(done, 3, STARTED) == 12.5
    assert pipeline_burst.wall_time_s(done[:2], 3, STARTED) is None
    assert pipeline_burst.wall_time_s([], 0, STARTED) is None
