"""A job the API no longer knows (erased, its records expired, or the agent pointed at another deployment) answers
the app's 404 `not_found` for good. Within 8 days of the row's last change that is ingestion not having recorded the
job yet (an operator may requeue a poisoned photo's message for 7 days), and the agent keeps asking, the less often
the longer it has waited; 8 days on, the row ends `unknown` (`unknown_job`), is never asked after again, and is pruned
as a finished one is. A 404 that is not the app's own (the Functions host's, with no problem document) says nothing
of the job: the agent backs off and asks again. The real agent and journal, asking a loopback API through the
command's own `GET /jobs/{id}` client."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
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
HOST_404: Answer = (404, {"Content-Type": "text/plain"}, b"", None)  # in Azure, while no function serves the path
LOCAL_HOST_404: Answer = (404, {}, json.dumps({"reason": "route_not_found"}).encode(), None)  # the local host's
BOUND = sync_agent.UNKNOWN_JOB_AFTER


def job(state: str) -> Answer:
    return 200, {}, json.dumps({"id": "j", "state": state}).encode(), None


class Rig:
    """An agent whose uploads are scripted (fakes.Service) and whose jobs come from a loopback API over HTTP, with
    the journal's wall clock and the agent's own clock both moved by hand."""

    def __init__(self, tmp_path: Path) -> None:
        self.folder, self.done, self.state = tmp_path / "drop", tmp_path / "done", tmp_path / "state"
        self.folder.mkdir(parents=True)
        self.api = ScriptedServer(NOT_FOUND)  # every job unknown, unless scripted
        self.service, self.clock, self.wall = Service(), Clock(), Wall()
        self.journal = j.Journal(self.state / "journal.sqlite3", now=self.wall)
        self.agent = self.new_agent()

    def new_agent(self) -> Agent:
        settings = SyncSettings(self.folder, settle_s=5.0, move_done=self.done)
        return Agent(settings, self.journal, self.service.upload, job_lookup(ApiClient(f"{self.api.origin}/api", "k")),
                     self.state / "status.json", clock=self.clock, jitter=lambda: 1.0)  # fmt: skip

    def run_once(self) -> dict[str, Any]:
        """A `sitelens sync --once` run: a process of its own, so its own journal connection and agent (as the command
        builds them), whose clock and memory start afresh; the journal's wall clock is the machine's."""
        self.journal.close()
        self.journal, self.clock = j.Journal(self.state / "journal.sqlite3", now=self.wall), Clock()
        self.agent = self.new_agent()
        self.agent.step()
        return status(self.agent)

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
        """Let `wall` pass, on the journal's clock and the agent's alike, then pass once."""
        self.wall.now += wall
        self.clock.now += wall.total_seconds()
        self.agent.step()
        return status(self.agent)

    def next_look_s(self, job_id: str) -> float:
        """How long the agent waits before it looks at the job again: the journal keeps when."""
        [entry] = [entry for entry in self.journal.in_state(j.UPLOADED, j.CONFIRMED) if entry.job_id == job_id]
        assert entry.next_look_at is not None
        return (entry.next_look_at - self.wall.now).total_seconds()

    def looks_until_unknown(self, every: Callable[[], timedelta], run: Callable[[timedelta], object]) -> int:
        """`run(every())` (time passes, then a pass or a run) until the job's row ends `unknown`: the looks it took."""
        for _ in range(3000):
            if status(self.agent)["unknown"]:
                return self.job_asks()
            run(every())
        raise AssertionError("the row never ended unknown")


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    rig = Rig(tmp_path)
    yield rig
    rig.journal.close()
    rig.api.close()


def test_a_job_unknown_8_days_after_the_upload_ends_its_row_and_is_never_asked_after_again(rig: Rig) -> None:
    rig.upload("IMG_0001.jpg")
    assert rig.job_asks() == 1 and status(rig.agent)["uploaded"] == 1
    for _ in range(3):  # within the bound not_found is ingestion still to come: asked after again
        doc = rig.later(BOUND / 4)
    assert rig.job_asks() == 4 and (doc["uploaded"], doc["unknown"]) == (1, 0)
    doc = rig.later(BOUND / 4 + timedelta(hours=1))  # 8 days and an hour since the upload, and the job still unknown
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


def test_a_job_not_found_is_looked_for_less_often_the_longer_it_has_waited(rig: Rig) -> None:
    """A tenth of the wait since the row's last change, from the usual 5 s to an hour: some 260 looks in the 8 days a
    forgotten job is asked after, where one every 5 s would be 138,000."""
    rig.upload("IMG_0007.jpg")
    assert rig.next_look_s("j_IMG_0007") == sync_agent.JOB_POLL_S
    rig.later(timedelta(hours=1))
    assert rig.next_look_s("j_IMG_0007") == 360
    asked = rig.job_asks()
    rig.later(timedelta(seconds=359))  # not yet
    assert rig.job_asks() == asked
    rig.later(timedelta(seconds=1))
    assert rig.job_asks() == asked + 1 and rig.next_look_s("j_IMG_0007") == 396
    rig.later(timedelta(days=2))
    assert rig.next_look_s("j_IMG_0007") == 3600  # an hour at most
    looks = 0
    while status(rig.agent)["unknown"] == 0 and looks < 400:  # from one look to the next, to the end of the bound
        rig.later(timedelta(seconds=rig.next_look_s("j_IMG_0007")))
        looks += 1
    assert status(rig.agent)["unknown"] == 1 and looks == 143  # hourly, to the end of the 8 days


def test_a_once_run_every_5_minutes_looks_for_a_forgotten_job_as_seldom_as_a_long_running_agent(tmp_path: Path) -> None:
    """The systemd timer of docs/field.md runs `--once` every 5 minutes: each run is a new process. The next look is in
    the journal, so the runs ask after the job about as often as one agent running the 8 days (not at every run)."""
    long_running, once = Rig(tmp_path / "long"), Rig(tmp_path / "once")
    try:
        for rig in (long_running, once):
            rig.upload("IMG_0010.jpg")

        def every_5_minutes(wait: timedelta) -> None:
            once.wall.now += wait
            once.run_once()

        once_looks = once.looks_until_unknown(lambda: timedelta(minutes=5), every_5_minutes)
        assert 200 < once_looks < 270  # not one a run: 2,300 runs in the 8 days
        assert once.wall.now - START < BOUND + timedelta(hours=1)  # and it ends when the bound is reached
        looks = long_running.looks_until_unknown(lambda: timedelta(seconds=long_running.next_look_s("j_IMG_0010")),
                                                 long_running.later)  # fmt: skip
        assert once_looks <= looks < 270  # fewer: the first minutes' looks, seconds apart, fall between two runs
    finally:
        for rig in (long_running, once):
            rig.journal.close()
            rig.api.close()


def test_a_look_put_off_past_a_clock_set_back_is_due_at_once(rig: Rig) -> None:
    """The wait for the next look is kept on the wall clock; one set back (a gateway that booted with a clock days
    ahead, then set it) must not put the job off for days."""
    rig.upload("IMG_0011.jpg")
    rig.later(timedelta(days=2))
    assert rig.next_look_s("j_IMG_0011") == 3600
    asked = rig.job_asks()
    rig.wall.now -= timedelta(days=1)
    rig.run_once()
    assert rig.job_asks() == asked + 1


def test_a_job_recorded_days_late_is_followed_to_its_end(rig: Rig) -> None:
    """An operator requeues a photo's message from webjobs-blobtrigger-poison-poison, within the 7 days it is kept."""
    rig.upload("IMG_0002.jpg")
    assert rig.later(timedelta(days=7))["uploaded"] == 1
    rig.api.script["/api/jobs/j_IMG_0002"] = [job("SUCCEEDED")]  # ingestion got round to it at last
    doc = rig.later(timedelta(hours=1))  # the next look is an hour on at most
    assert (doc["finished"], doc["unknown"], doc["uploaded"]) == (1, 0, 0)
    assert (rig.done / "IMG_0002.jpg").exists()


def test_a_job_the_api_answered_then_forgot_ends_8_days_after_its_first_answer(rig: Rig) -> None:
    rig.api.script["/api/jobs/j_IMG_0003"] = [NOT_FOUND, job("RUNNING"), NOT_FOUND]  # recorded late, then erased
    rig.upload("IMG_0003.jpg")
    assert rig.later(timedelta(hours=12))["confirmed"] == 1 and (rig.done / "IMG_0003.jpg").exists()
    doc = rig.later(BOUND - timedelta(hours=11))  # past the bound since the upload, but not since the answer
    assert (doc["confirmed"], doc["unknown"]) == (1, 0)
    doc = rig.later(timedelta(hours=12))
    assert (doc["confirmed"], doc["unknown"]) == (0, 1)
    asked = rig.job_asks()
    rig.later(timedelta(hours=1))
    assert rig.job_asks() == asked


@pytest.mark.parametrize("answer", [HOST_404, LOCAL_HOST_404], ids=["azure_host", "local_host"])
def test_only_the_app_s_own_404_says_it_does_not_know_the_job(rig: Rig, answer: Answer) -> None:
    lookup = job_lookup(ApiClient(f"{rig.api.origin}/api", "k"))
    assert lookup("j_IMG_0008") is None  # the app's not_found
    rig.api.script["/api/jobs/j_IMG_0008"] = [answer]
    with pytest.raises(sync_agent.LookupRefused):
        lookup("j_IMG_0008")


@pytest.mark.parametrize("first", [NOT_FOUND, job("RUNNING")], ids=["uploaded", "confirmed"])
def test_a_404_that_is_not_the_app_s_ends_no_row_however_late_it_comes(rig: Rig, first: Answer) -> None:
    """A deploy whose functions did not load: the host answers 404 on every path, the job's included."""
    rig.api.script["/api/jobs/j_IMG_0009"] = [first, HOST_404, job("SUCCEEDED")]
    rig.upload("IMG_0009.jpg")  # asked once, at once
    doc = rig.later(BOUND + timedelta(days=1))  # the next look, offline or asleep until well past the bound
    assert (doc["uploaded"] + doc["confirmed"], doc["unknown"], doc["state"]) == (1, 0, "backing_off")
    assert doc["last_error"]["reason"] == "unreachable"
    doc = rig.later(timedelta(minutes=5))  # asked again once the back-off is over: the app is back
    assert (doc["finished"], doc["unknown"], doc["state"]) == (1, 0, "running")


def test_an_unknown_row_is_pruned_like_a_finished_one_and_stays_counted(rig: Rig) -> None:
    rig.upload("IMG_0004.jpg", "IMG_0005.jpg")
    rig.later(BOUND + timedelta(minutes=1))
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
