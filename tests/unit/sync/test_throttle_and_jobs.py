"""The upload client's bandwidth cap on a manual clock, and how `sitelens jobs` lays out what the API says."""

from __future__ import annotations

import argparse
import io
import threading
from typing import Any

import pytest

from sitelens import jobs_command
from sitelens.api_client import ApiError
from sitelens.jobs_command import describe, table
from sitelens.upload_progress import Throttle


class Clock:
    def __init__(self) -> None:
        self.now, self.slept = 0.0, list[float]()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_the_cap_spaces_blocks_so_the_average_rate_holds():
    clock = Clock()
    throttle = Throttle(1000.0, clock.sleep, clock)
    for _ in range(4):
        throttle.take(500)
    assert clock.slept == [0.5, 0.5, 0.5]  # 2,000 bytes in 1.5 s, the fourth block leaving at the cap
    clock.now += 0.2  # the block took time to send: that counts towards the wait
    throttle.take(500)
    assert clock.slept[-1] == pytest.approx(0.3)


def test_an_idle_link_earns_no_burst():
    clock = Clock()
    throttle = Throttle(1000.0, clock.sleep, clock)
    throttle.take(1000)
    clock.now += 60  # between photos
    throttle.take(1000)
    throttle.take(1000)
    assert clock.slept == [1.0]


JOB = {"id": "j_abc", "site": "s1", "device": "cam1", "photo_id": "IMG_1-0011", "state": "SUCCEEDED",
       "reason": None, "cached": True, "model": "ocr/ppocrv4", "attempts": 1,
       "timings": {"received_at": "2026-11-22T10:00:00Z", "finished_at": "2026-11-22T10:00:03Z"},
       "result": {"summary": {"text": ["PUMP P-104", "MAX 415 V"]}}}  # fmt: skip


def test_the_table_has_a_row_per_job_and_marks_cached_ones():
    rows = table([JOB, {**JOB, "id": "j_def", "state": "REJECTED", "reason": "too_small", "cached": False}])
    lines = rows.splitlines()
    assert lines[0].split() == ["ID", "STATE", "DEVICE", "PHOTO_ID", "RECEIVED", "REASON"]
    assert lines[1].split() == ["j_abc", "SUCCEEDED", "cam1", "IMG_1-0011", "2026-11-22T10:00:00Z", "cached"]
    assert lines[2].split()[1::4] == ["REJECTED", "too_small"] and lines[-1] == "2 job(s)"


def test_a_jobs_description_carries_its_state_and_text():
    text = describe({**JOB, "state": "FAILED", "reason": "task_failed", "detail": "exit 9", "result": None})
    assert text.splitlines()[0] == "j_abc  FAILED  task_failed: exit 9"
    assert "| PUMP P-104" in describe(JOB) and "cached True" in describe(JOB)


class Api:
    """GET /jobs/{id}: one scripted answer per poll (an ApiError for 404), the last one repeated."""

    def __init__(self, *answers: dict[str, Any] | ApiError) -> None:
        self.answers = list(answers)

    def exchange(self, method: str, path: str) -> tuple[int, dict[str, Any], float | None]:
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, ApiError):
            raise answer
        return 200, answer, None


def watch(api: Api, job: str = "j_abc") -> tuple[int, str]:
    out = io.StringIO()
    args = argparse.Namespace(site=None, job=job, interval=0.0)
    code = jobs_command.watch(api, args, out, threading.Event())  # type: ignore[arg-type]
    return code, out.getvalue()


def test_watch_waits_out_a_404_prints_each_change_and_exits_by_the_outcome():
    not_yet = ApiError(404, {"reason": "not_found"})
    running = {**JOB, "state": "RUNNING", "cached": False}
    failed = {**running, "state": "FAILED", "reason": "task_failed"}
    assert watch(Api(not_yet, running, running, failed)) == (1, "j_abc RUNNING\nj_abc FAILED task_failed\n")
    assert watch(Api(JOB)) == (0, "j_abc SUCCEEDED (cached)\n")


def test_watch_passes_on_an_error_other_than_not_yet():
    with pytest.raises(ApiError):
        watch(Api(ApiError(401, {"reason": "unauthorized"})))
