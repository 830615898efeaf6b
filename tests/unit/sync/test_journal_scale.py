"""The sync journal keeps a row for every file version it ever took on (a year of photos is about a million), so
what a pass reads must not grow with them: the versions in a given state come from an index on state and age,
and the count in each state from a table the journal keeps as rows change. A journal written before either
gets both when it is opened, its counts recounted from its rows once."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sitelens import sync_journal as j

# The journal's schema before it had an index or counts: what a gateway upgraded in place still holds.
PREVIOUS_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    path TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    state TEXT NOT NULL, job_id TEXT, blob_name TEXT, job_state TEXT, duplicate INTEGER NOT NULL DEFAULT 0,
    reason TEXT, attempts INTEGER NOT NULL DEFAULT 0, seen_at TEXT NOT NULL, updated_at TEXT NOT NULL,
    PRIMARY KEY (path, size, mtime_ns)
)
"""
PREVIOUS_COLUMNS = ["path", "size", "mtime_ns", "state", "job_id", "blob_name", "job_state", "duplicate", "reason",
                    "attempts", "seen_at", "updated_at"]  # fmt: skip
# A long history, nearly all finished, and the few versions a pass is after.
HISTORY = [(f"/drop/IMG_{n:05d}.jpg", j.FINISHED, int(n % 7 == 0)) for n in range(2000)] + [
    ("/drop/new_1.jpg", j.PENDING, 0),
    ("/drop/new_2.jpg", j.UPLOADED, 0),
    ("/drop/new_3.jpg", j.CONFIRMED, 0),
    ("/drop/bad.gif", j.FAILED, 0),
]


def previous_journal(path: Path) -> None:
    """A journal as the previous release left it, with `HISTORY` in it."""
    db = sqlite3.connect(path)
    db.execute(PREVIOUS_SCHEMA)
    rows = [(name, 1000, 1, state, duplicate, f"2026-01-01T00:00:{n % 60:02d}+00:00", "2026-01-01T00:00:00+00:00")
            for n, (name, state, duplicate) in enumerate(HISTORY)]  # fmt: skip
    db.executemany("INSERT INTO files (path, size, mtime_ns, state, duplicate, seen_at, updated_at) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?)", rows)  # fmt: skip
    db.commit()
    db.close()


def truth(journal: j.Journal) -> dict[str, int]:
    """What `counts()` must answer, counted the slow way from the rows themselves."""
    counts = dict(journal.db.execute("SELECT state, COUNT(*) FROM files GROUP BY state").fetchall())
    counts["duplicates"] = journal.db.execute("SELECT COUNT(*) FROM files WHERE duplicate != 0").fetchone()[0]
    return counts


def plans_of(journal: j.Journal, read: Callable[[], object]) -> list[str]:
    """The query plan of every statement `read` runs on the journal, one line per step."""
    statements: list[str] = []
    journal.db.set_trace_callback(statements.append)
    try:
        read()
    finally:
        journal.db.set_trace_callback(None)
    assert statements, "the read ran no statement"
    return [str(step[3]) for sql in statements for step in journal.db.execute(f"EXPLAIN QUERY PLAN {sql}")]


def test_a_journal_from_before_the_index_gets_it_and_a_pass_reads_no_whole_table(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    previous_journal(path)
    journal = j.Journal(path)
    try:
        indexes = {row[0] for row in journal.db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert "files_by_state" in indexes
        # Every read a pass makes (sync_agent.py): pending versions, jobs to ask after, the status file's counts.
        for read in (lambda: journal.in_state(j.PENDING), lambda: journal.in_state(j.UPLOADED, j.CONFIRMED),
                     journal.counts):  # fmt: skip
            plans = plans_of(journal, read)
            assert not [step for step in plans if step.startswith("SCAN files")], plans
        assert any(
            "USING INDEX files_by_state" in step for step in plans_of(journal, lambda: journal.in_state(j.PENDING))
        )
    finally:
        journal.close()


def test_the_reads_still_answer_what_the_rows_say_after_the_upgrade(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    previous_journal(path)
    journal = j.Journal(path)
    try:
        assert [e.path for e in journal.in_state(j.UPLOADED, j.CONFIRMED)] == ["/drop/new_2.jpg", "/drop/new_3.jpg"]
        assert journal.counts() == truth(journal) == {j.FINISHED: 2000, j.PENDING: 1, j.UPLOADED: 1,
                                                      j.CONFIRMED: 1, j.FAILED: 1, "duplicates": 286}  # fmt: skip
    finally:
        journal.close()


def test_the_counts_follow_every_change_and_a_reopened_journal_is_not_counted_twice(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    previous_journal(path)
    journal = j.Journal(path)
    try:
        fresh = journal.add("/drop/IMG_9.jpg", 5, 6)
        journal.add("/drop/IMG_9.jpg", 5, 6)  # already there: not a second row, not a second count
        journal.update(fresh, j.UPLOADED, job_id="j_x")
        journal.update(fresh, j.CONFIRMED, job_state="RUNNING")
        journal.update(fresh, j.FINISHED, job_state="SUCCEEDED", duplicate=1)
        pending = journal.find("/drop/new_1.jpg", 1000, 1)
        assert pending is not None
        journal.update(pending, j.GONE, reason="deleted before upload")
        journal.update(pending, j.PENDING, reason=None)
        journal.update(pending, j.GONE, reason="deleted before upload")
        journal.db.execute("DELETE FROM files WHERE path = '/drop/IMG_00007.jpg'")  # a finished duplicate
        assert journal.counts() == truth(journal)
        assert journal.counts()[j.GONE] == 1 and j.PENDING not in journal.counts()
    finally:
        journal.close()
    again = j.Journal(path)
    try:
        assert again.counts() == truth(again) and again.counts()[j.FINISHED] == 2000
    finally:
        again.close()


def test_next_look_at_is_appended_to_an_old_journal_and_an_earlier_release_reads_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    previous_journal(path)
    journal = j.Journal(path)
    try:
        uploaded = journal.find("/drop/new_2.jpg", 1000, 1)
        assert uploaded is not None and uploaded.next_look_at is None  # every job due at the next pass, as before
        journal.look_later(uploaded, at := datetime(2026, 1, 2, tzinfo=UTC))
    finally:
        journal.close()
    again = j.Journal(path)  # opened again: the column is there, not added twice
    try:
        kept = again.find("/drop/new_2.jpg", 1000, 1)
        assert kept is not None and kept.next_look_at == at and kept.updated_at == uploaded.updated_at
        columns = [str(row[1]) for row in again.db.execute("PRAGMA table_info(files)")]
    finally:
        again.close()
    assert columns == [*PREVIOUS_COLUMNS, "next_look_at"]
    # A release rolled back to reads `SELECT *` by position (the first 10 or 12 columns) and writes columns by name.
    db = sqlite3.connect(path)
    try:
        db.execute(PREVIOUS_SCHEMA)
        db.execute("INSERT INTO files (path, size, mtime_ns, state, seen_at, updated_at) VALUES "
                   "('/drop/IMG_9.jpg', 5, 6, 'pending', '2026-01-03', '2026-01-03')")  # fmt: skip
        db.execute("UPDATE files SET state = 'confirmed', job_state = 'RUNNING' WHERE path = '/drop/new_2.jpg'")
        rows = {row[0]: row[:12] for row in db.execute("SELECT * FROM files WHERE path LIKE '/drop/%_%.jpg'")}
    finally:
        db.close()
    assert rows["/drop/new_2.jpg"][3:7] == (j.CONFIRMED, None, None, "RUNNING")
    assert rows["/drop/IMG_9.jpg"][3] == j.PENDING and rows["/drop/IMG_9.jpg"][11] == "2026-01-03"


def test_a_new_journal_counts_from_its_first_row(tmp_path: Path) -> None:
    journal = j.Journal(tmp_path / "state" / "journal.sqlite3")
    try:
        assert journal.counts() == {"duplicates": 0}
        journal.update(journal.add("/drop/a.jpg", 1, 2), j.FAILED, reason="too_large")
        assert journal.counts() == truth(journal) == {j.FAILED: 1, "duplicates": 0}
    finally:
        journal.close()
