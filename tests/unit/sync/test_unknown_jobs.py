"""A job the API no longer knows (erased, its records expired, or the agent pointed at another deployment) answers
404 for good. Within a day of the upload a 404 is ingestion not having recorded the job yet, and the agent keeps
asking; a day on, the row ends `unknown` (`unknown_job`), is never asked after again, and is pruned as a finished
one is. The real agent and journal, asking a loopback API through the command's own `GET /jobs/{id}` client."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from sitelens import sync_agent
from sitelens import sync_journal as j
from sitelens.api_client import ApiClient
from sitelens.sync_agent import Agent, SyncSettings
from sitelens.sync_command import job_lookup
from tests.support.scripted_http import Answer, ScriptedServer
from tests.unit.sync.fakes import JPEG, Clock, Service, status
from tests.unit.sync.test_journal_prune import START, Wall, old
from tests.unit.sync.test_journal_scale import PREVIOUS_SCHEMA

NOT_FOUND: Answer = (404, {}, json.dumps({"reason": "not_found"}).encode(), None)


def job(state: str) -> Answer:
    return 200, {}, json.dumps({"id": "j", "state": state}).encode(), None


class Rig:
    """An agent whose uploads are scripted (fakes.Service) and whose jobs come from a loopback API over HTTP, with
    the journal's wall clock and the agent's own clock both moved by hand."""

    def __init__(self, tmp_path: Path) -> None:
        self.folder, self.done = tmp_path / "drop", tmp_path / "done"
        self.folder.mkdir()
        self.api = ScriptedServer(NOT_FOUND)  # every job unknown, unless scripted
        self.service, self.clock, self.wall = Service(), Clock(), Wall()
        self.journal = j.Journal(tmp_path / "state" / "journal.sqlite3", now=self.wall)
        settings = SyncSettings(self.folder, settle_s=5.0, move_done=self.done)
        self.agent = Agent(settings, self.journal, self.service.upload,
                           job_lookup(ApiClient(f"{self.api.origin}/api", "k")), tmp_path / "state" / "status.json",
                           clock=self.clock, jitter=lambda: 1.0)  # fmt: skip

    def job_asks(self) -> int:
        return sum(1 for method, path, _ in self.api.seen if method == "GET" and path.startswith("/api/jobs/"))

    def upload(self, *names: str) -> None:
        """Drop the photos and pass until they settle and go up (the upload itself asks after the jobs once)."""
        for name in names:
            (self.folder / name).write_bytes(JPEG)
        self.agent.step()
        self.clock.now += 6
        self.agent.step()

    def later(self, wall: timedelta) -> dict[str, Any]:
        """Let `wall` pass on the journal's clock and the agent's wait between two looks at a job, then pass once."""
        self.wall.now += wall
        self.clock.now += sync_agent.JOB_POLL_S + 1
        self.agent.step()
        return status(self.agent)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    rig = Rig(tmp_path)
    yield rig
    rig.journal.close()
    rig.api.close()


def test_a_job_unknown_a_day_after_the_upload_ends_its_row_and_is_never_asked_after_again(rig: Rig) -> None:
    rig.upload("IMG_0001.jpg")
    assert rig.job_asks() == 1 and status(rig.agent)["uploaded"] == 1
    for _ in range(3):  # within the day a 404 is ingestion still to come: asked after again
        doc = rig.later(timedelta(hours=7))
    assert rig.job_asks() == 4 and (doc["uploaded"], doc["unknown"]) == (1, 0)
    doc = rig.later(timedelta(hours=3))  # a day and an hour since the upload, and the job still unknown
    assert (doc["uploaded"], doc["confirmed"], doc["unknown"], doc["finished"]) == (0, 0, 1, 0)
    [entry] = rig.journal.in_state(j.UNKNOWN)
    assert entry.job_id == "j_IMG_0001" and (entry.reason or "").startswith("unknown_job: ")
    asked = rig.job_asks()
    for _ in range(5):
        rig.later(timedelta(hours=1))
    assert rig.job_asks() == asked  # no longer asked after
    assert rig.agent.idle() and rig.agent.exit_code() == sync_agent.EXIT_OK
    assert rig.service.sent == ["IMG_0001.jpg"]  # the photo is on the service: never sent again
    assert (rig.folder / "IMG_0001.jpg").exists() and not rig.done.exists()  # no answer, so --move-done waits


def test_a_job_recorded_late_within_the_day_is_followed_to_its_end(rig: Rig) -> None:
    rig.upload("IMG_0002.jpg")
    assert rig.later(timedelta(hours=23))["uploaded"] == 1
    rig.api.script["/api/jobs/j_IMG_0002"] = [job("SUCCEEDED")]  # ingestion got round to it at last
    doc = rig.later(timedelta(hours=2))
    assert (doc["finished"], doc["unknown"], doc["uploaded"]) == (1, 0, 0)


def test_a_job_the_api_answered_then_forgot_ends_a_day_after_its_first_answer(rig: Rig) -> None:
    rig.api.script["/api/jobs/j_IMG_0003"] = [NOT_FOUND, job("RUNNING"), NOT_FOUND]  # recorded late, then erased
    rig.upload("IMG_0003.jpg")
    assert rig.later(timedelta(hours=12))["confirmed"] == 1 and (rig.done / "IMG_0003.jpg").exists()
    assert rig.later(timedelta(hours=13))["confirmed"] == 1  # a day after the upload, but not after the answer
    doc = rig.later(timedelta(hours=12))
    assert (doc["confirmed"], doc["unknown"]) == (0, 1)
    asked = rig.job_asks()
    rig.later(timedelta(hours=1))
    assert rig.job_asks() == asked


def test_an_unknown_row_is_pruned_like_a_finished_one_and_stays_counted(rig: Rig) -> None:
    rig.upload("IMG_0004.jpg", "IMG_0005.jpg")
    rig.later(timedelta(days=1, minutes=1))
    assert status(rig.agent)["unknown"] == 2
    (rig.folder / "IMG_0004.jpg").unlink()  # one leaves the folder; the other's row is its memory that it was sent
    doc = rig.later(old())  # the pass prunes from its own listing
    assert [entry.path for entry in rig.journal.in_state(j.UNKNOWN)] == [str(rig.folder / "IMG_0005.jpg")]
    assert doc["unknown"] == 2  # counted since the journal began, pruned rows included


def test_a_journal_from_an_earlier_release_ends_its_long_unknown_jobs_at_once(tmp_path: Path) -> None:
    """No migration: the bound is the row's `updated_at`, which journals written by earlier releases hold too."""
    path = tmp_path / "state" / "journal.sqlite3"
    path.parent.mkdir()
    db = sqlite3.connect(path)
    db.execute(PREVIOUS_SCHEMA)
    db.execute("INSERT INTO files (path, size, mtime_ns, state, job_id, seen_at, updated_at) VALUES "
               "('/drop/IMG_0006.jpg', 10, 1, 'uploaded', 'j_IMG_0006', ?, ?)",
               ((START - timedelta(days=40)).isoformat(),) * 2)  # fmt: skip
    db.commit()
    db.close()
    rig = Rig(tmp_path)
    try:
        rig.agent.step()
        assert rig.job_asks() == 1 and (status(rig.agent)["uploaded"], status(rig.agent)["unknown"]) == (0, 1)
    finally:
        rig.journal.close()
        rig.api.close()
