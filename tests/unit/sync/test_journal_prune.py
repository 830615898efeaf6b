"""The journal forgets history that can no longer matter: a row the agent is done with (finished, failed, gone,
unknown), unchanged for `KEEP_DAYS`, whose version is not in the drop folder. A version still in the folder keeps
its row, or it would be sent again as a new photo (a failed one retried). A sweep starts at most once a day, deletes
a small batch a pass, and the counts stay right: the per-state table matches the rows, and `counts()` (the status
file's) still counts since the journal began. What a sweep saves, an earlier release rolled back to still reads."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sitelens import sync_journal as j
from sitelens.sync_agent import Agent, SyncSettings
from tests.unit.sync.fakes import JPEG, Clock, Service, make_rig, status
from tests.unit.sync.test_journal_scale import previous_journal

START = datetime(2026, 1, 1, tzinfo=UTC)


def old() -> timedelta:
    """Past the age a row must reach before it may go."""
    return timedelta(days=j.KEEP_DAYS + 1)


class Wall:
    """The journal's wall clock, moved by hand."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def wall() -> Wall:
    return Wall()


@pytest.fixture
def journal(tmp_path: Path, wall: Wall) -> Iterator[j.Journal]:
    journal = j.Journal(tmp_path / "state" / "journal.sqlite3", now=wall)
    yield journal
    journal.close()


def settle(journal: j.Journal, path: str, state: str, size: int = 10, mtime_ns: int = 1, **fields: object) -> None:
    journal.update(journal.add(path, size, mtime_ns), state, **fields)


def paths(journal: j.Journal) -> set[str]:
    return {j._path(row[0]) for row in journal.db.execute("SELECT path FROM files")}


def kept_counts_match_rows(journal: j.Journal) -> bool:
    """`state_counts` (what the triggers keep) against a GROUP BY of the rows themselves."""
    kept = journal.db.execute("SELECT state, files, duplicates FROM state_counts WHERE files > 0").fetchall()
    rows = journal.db.execute("SELECT state, COUNT(*), SUM(duplicate != 0) FROM files GROUP BY state").fetchall()
    return sorted(kept) == sorted(rows)


def test_old_history_whose_version_left_the_folder_is_pruned_and_what_is_still_there_is_kept(journal, wall):
    latin1 = os.fsdecode(b"/drop/\xdcbersicht.jpg")  # a name that is not UTF-8: stored as bytes, listed as escapes
    settle(journal, "/drop/moved.jpg", j.FINISHED, job_state="SUCCEEDED")
    settle(journal, "/drop/copy.jpg", j.FINISHED, job_state="SUCCEEDED", duplicate=1)
    settle(journal, "/drop/deleted.jpg", j.GONE, reason="deleted before upload")
    settle(journal, "/drop/refused_then_deleted.gif.jpg", j.FAILED, reason="unsupported_type")
    settle(journal, "/drop/rewritten.jpg", j.FINISHED, size=10)  # the folder now holds another version of it
    settle(journal, "/drop/still_here.jpg", j.FINISHED, job_state="SUCCEEDED")
    settle(journal, "/drop/refused_still_here.jpg", j.FAILED, reason="too_large")
    settle(journal, latin1, j.FINISHED, job_state="SUCCEEDED")
    slow = journal.add("/drop/slow.jpg", 10, 1)  # seen long ago, finished only yesterday: its age is its last change
    wall.now += old()
    settle(journal, "/drop/recent.jpg", j.FINISHED, job_state="SUCCEEDED")  # moved out too, but only yesterday
    journal.update(slow, j.FINISHED, job_state="SUCCEEDED")
    wall.now += timedelta(days=1)
    before = journal.counts()
    listing = {"/drop/still_here.jpg": (10, 1), "/drop/refused_still_here.jpg": (10, 1), latin1: (10, 1),
               "/drop/rewritten.jpg": (11, 2), "/drop/new.jpg": (5, 5)}  # fmt: skip

    assert journal.prune(listing) == 5

    kept = {"/drop/still_here.jpg", "/drop/refused_still_here.jpg", latin1, "/drop/recent.jpg", "/drop/slow.jpg"}
    assert paths(journal) == kept
    assert kept_counts_match_rows(journal)
    assert journal.counts() == before == {j.FINISHED: 7, j.FAILED: 2, j.GONE: 1, "duplicates": 1}


def test_a_sweep_starts_at_most_once_a_day(journal, wall):
    settle(journal, "/drop/a.jpg", j.FINISHED)
    wall.now += timedelta(days=1)
    settle(journal, "/drop/b.jpg", j.FINISHED)
    wall.now += timedelta(days=j.KEEP_DAYS, minutes=-1)  # a.jpg is past the age, b.jpg a minute short of it
    listing = {"/drop/other.jpg": (1, 1)}
    assert journal.prune(listing) == 1
    assert paths(journal) == {"/drop/b.jpg"}
    wall.now += timedelta(hours=23)  # b.jpg is old enough now, but the day's sweep is done
    assert [journal.prune(listing) for _ in range(3)] == [0, 0, 0]
    assert paths(journal) == {"/drop/b.jpg"}
    wall.now += timedelta(hours=1)
    assert journal.prune(listing) == 1
    assert paths(journal) == set()


def test_a_clock_set_back_before_the_last_sweep_does_not_stop_pruning(journal, wall):
    settle(journal, "/drop/a.jpg", j.FINISHED)
    wall.now += old() * 10  # a gateway booted with its clock far ahead: a sweep "in the future"
    assert journal.prune({"/drop/other.jpg": (1, 1)}) == 1
    wall.now = START
    settle(journal, "/drop/b.jpg", j.FINISHED)
    wall.now += old()
    assert journal.prune({"/drop/other.jpg": (1, 1)}) == 1


def test_an_empty_listing_prunes_nothing_and_leaves_the_day_s_sweep_to_a_later_pass(journal, wall):
    settle(journal, "/drop/a.jpg", j.FINISHED)
    wall.now += old()
    assert journal.prune({}) == 0  # a share not mounted lists nothing, though its photos are all still there
    assert paths(journal) == {"/drop/a.jpg"}
    assert journal.prune({"/drop/other.jpg": (1, 1)}) == 1


def test_a_long_history_goes_a_batch_a_pass_and_each_run_goes_on_where_the_last_stopped(tmp_path, wall, monkeypatch):
    monkeypatch.setattr(j, "PRUNE_BATCH", 7)
    path = tmp_path / "journal.sqlite3"
    previous_journal(path)  # 2000 finished rows, and a few others, from a release before pruning
    wall.now = datetime(2026, 3, 1, tzinfo=UTC)
    # The first 34 finished versions in the sweep's order (and the failed one) are still in the folder: more than a
    # batch, so a sweep that started over on each run (a --once run a timer repeats) would never get past them.
    listing = {f"/drop/IMG_{n:05d}.jpg": (1000, 1) for n in range(0, 2000, 60)} | {"/drop/bad.gif": (1000, 1)}
    journal = j.Journal(path, now=wall)
    before = journal.counts()
    journal.close()
    deleted = []
    for _ in range(300):  # each run one pass, on a journal opened afresh
        journal = j.Journal(path, now=wall)
        deleted.append(journal.prune(listing))
        journal.close()
    assert max(deleted) <= 7 and sum(deleted) == 2000 - 34
    journal = j.Journal(path, now=wall)
    try:
        remaining = journal.db.execute("SELECT state, COUNT(*) FROM files GROUP BY state").fetchall()
        assert dict(remaining) == {j.FINISHED: 34, j.FAILED: 1, j.PENDING: 1, j.UPLOADED: 1, j.CONFIRMED: 1}
        assert kept_counts_match_rows(journal)
        assert journal.counts() == before
    finally:
        journal.close()


def send_and_finish(agent: Agent, service: Service, clock: Clock, photo: Path) -> None:
    photo.write_bytes(JPEG)
    agent.step()
    clock.now += 6
    agent.step()  # settled: uploaded
    service.jobs[f"j_{photo.stem}"] = {"state": "SUCCEEDED"}
    clock.now += 6  # past the wait between two looks at a job
    agent.step()  # the job is terminal: finished (and with --move-done, moved out)


def test_the_agent_prunes_a_finished_photo_moved_out_of_the_folder_from_its_own_listing(tmp_path):
    agent, service, clock, folder = make_rig(tmp_path)  # --move-done
    send_and_finish(agent, service, clock, folder / "a.jpg")
    assert not (folder / "a.jpg").exists() and status(agent)["finished"] == 1
    clock.now += old().total_seconds()  # the journal's wall clock moves with it
    (folder / "b.jpg").write_bytes(JPEG)  # the next photo arrives
    agent.step()
    assert agent.journal.db.execute("SELECT COUNT(*) FROM files").fetchone()[0] == 0  # b.jpg is still settling
    assert status(agent)["finished"] == 1  # the status file counts since the journal began
    agent.journal.close()


def test_the_agent_keeps_the_row_of_a_photo_left_in_the_folder_and_never_sends_it_again(tmp_path, wall):
    folder, service, clock = tmp_path / "drop", Service(), Clock()
    folder.mkdir()
    agent = Agent(SyncSettings(folder, settle_s=5.0), j.Journal(tmp_path / "journal.sqlite3", now=wall),
                  service.upload, service.job, tmp_path / "status.json", clock=clock)  # fmt: skip
    try:
        send_and_finish(agent, service, clock, folder / "a.jpg")
        for _ in range(3):
            wall.now += old()
            clock.now += 6
            agent.step()
        assert [e.path for e in agent.journal.in_state(j.FINISHED)] == [str(folder / "a.jpg")]
        assert service.sent == ["a.jpg"]
    finally:
        agent.journal.close()


# What a release before `unknown` (the first that pruned) does with the sweep it reads, under "prune": it builds its
# Sweep from exactly these members, and walks its states from the one saved, failing on a state it does not know.
EARLIER_RELEASE_SWEEP = {"started", "cutoff", "state", "seen_at", "rowid"}
EARLIER_RELEASE_PRUNABLE = (j.FAILED, j.FINISHED, j.GONE)


def earlier_release_reads(journal: j.Journal) -> None:
    """Read the saved sweep as that release does: raise where it would fail on every pass, rolled back to."""
    row = journal.db.execute("SELECT value FROM journal_meta WHERE key = 'prune'").fetchone()
    if row is not None:
        doc = json.loads(row[0])
        assert set(doc) == EARLIER_RELEASE_SWEEP, doc
        if doc["state"] is not None:
            EARLIER_RELEASE_PRUNABLE.index(doc["state"])  # ValueError for a state it does not know


def test_a_journal_pruned_by_this_release_never_fails_an_earlier_release_rolled_back_to(journal, wall, monkeypatch):
    monkeypatch.setattr(j, "PRUNE_BATCH", 7)
    for n in range(10):  # more than a batch of each, so that sweeps stop part way, in each state
        settle(journal, f"/drop/done_{n}.jpg", j.FINISHED)
        settle(journal, f"/drop/lost_{n}.jpg", j.UNKNOWN, job_id=f"j_{n}", reason="unknown_job: ...")
    wall.now += old()
    before = journal.counts()
    for _ in range(8):  # each pass a state the earlier release may find the journal in
        journal.prune({"/drop/other.jpg": (1, 1)})
        earlier_release_reads(journal)
    assert paths(journal) == set() and journal.counts() == before and kept_counts_match_rows(journal)


def test_a_sweep_saved_at_unknown_under_prune_is_started_afresh_and_rewritten_at_once(journal, wall):
    """The first release with `unknown` walked it under "prune": such a journal is mended on the first pass."""
    settle(journal, "/drop/done.jpg", j.FINISHED)
    settle(journal, "/drop/lost.jpg", j.UNKNOWN, job_id="j_1")
    wall.now += old()
    began = j._stamp(wall.now - timedelta(hours=1))  # within the day: no new sweep would be due yet
    saved = {"started": began, "cutoff": j._stamp(START), "state": j.UNKNOWN, "seen_at": "", "rowid": 0}
    journal.db.execute("INSERT INTO journal_meta VALUES ('prune', ?)", (json.dumps(saved),))
    assert journal.prune({"/drop/other.jpg": (1, 1)}) == 2
    earlier_release_reads(journal)
    assert paths(journal) == set()
