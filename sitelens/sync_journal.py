"""The sync agent's durable memory: one SQLite row per file version it has taken on (sitelens/sync_agent.py).

A file version is its path, size and mtime: a file rewritten under the same name is a new version (and, its
content being different, a new photo id). Rows move forward only, but for one way back:

    pending ──► uploaded ──► confirmed (the API answers the job) ──► finished (the job is terminal)
       │
       ├──► failed (the service refused the photo for good: wrong type, too large, a bad id)
       └──► gone (deleted before it was uploaded) ──► pending (the same version is back in the folder)

Every change is committed before the agent acts on it (`synchronous=FULL`, WAL), so a kill -9 or a power
cut loses at most the step in flight, and that step is safe to repeat: the photo id comes from the content,
so the service hands back the same reservation and the blocks already staged.

A path is stored as text, or, when its name is not valid UTF-8 (Python holds such bytes as surrogate escapes,
which SQLite cannot store as text), as the file system's bytes in a BLOB: lossless either way, and a journal
written before such names were handled reads the same.

Rows are kept, one per version ever taken on, so a pass reads only what it needs: the few versions in a given
state (an index on state and age; the `finished` ones, nearly all the rows, are never read again), and the
count in each state from `state_counts`, which triggers keep in step with every insert, update and delete
inside that statement's own transaction. A journal from before either is given both when it is opened, once.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

PENDING, UPLOADED, CONFIRMED, FINISHED, FAILED, GONE = "pending", "uploaded", "confirmed", "finished", "failed", "gone"
SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    path TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    state TEXT NOT NULL, job_id TEXT, blob_name TEXT, job_state TEXT, duplicate INTEGER NOT NULL DEFAULT 0,
    reason TEXT, attempts INTEGER NOT NULL DEFAULT 0, seen_at TEXT NOT NULL, updated_at TEXT NOT NULL,
    PRIMARY KEY (path, size, mtime_ns)
)
"""
# What `in_state` filters on and orders by: each pass asks for pending (and uploaded and confirmed) versions.
STATE_INDEX = "CREATE INDEX IF NOT EXISTS files_by_state ON files (state, seen_at)"
COUNTS = """
CREATE TABLE state_counts (state TEXT PRIMARY KEY, files INTEGER NOT NULL, duplicates INTEGER NOT NULL)
WITHOUT ROWID
"""
# A row counted into its state, or out of it: what the triggers below run.
_COUNT_IN = """
INSERT INTO state_counts (state, files, duplicates) VALUES (NEW.state, 1, NEW.duplicate != 0)
    ON CONFLICT (state) DO UPDATE SET files = files + 1, duplicates = duplicates + excluded.duplicates;
"""
_COUNT_OUT = """
UPDATE state_counts SET files = files - 1, duplicates = duplicates - (OLD.duplicate != 0) WHERE state = OLD.state;
"""
COUNT_TRIGGERS = (
    f"CREATE TRIGGER files_counted_in AFTER INSERT ON files BEGIN {_COUNT_IN} END",
    f"CREATE TRIGGER files_recounted AFTER UPDATE OF state, duplicate ON files BEGIN {_COUNT_OUT} {_COUNT_IN} END",
    f"CREATE TRIGGER files_counted_out AFTER DELETE ON files BEGIN {_COUNT_OUT} END",
)


@dataclass(frozen=True)
class Entry:
    path: str
    size: int
    mtime_ns: int
    state: str
    job_id: str | None
    blob_name: str | None
    job_state: str | None
    duplicate: bool
    reason: str | None
    attempts: int


def _now() -> str:
    return datetime.now(UTC).isoformat()


class Journal:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None)  # autocommit: each statement is its own commit
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("BEGIN IMMEDIATE")  # one writer: no row changes between the recount and its triggers
        with self.db:  # commits, or rolls back whatever an error interrupted
            self.db.execute(SCHEMA)
            self.db.execute(STATE_INDEX)
            if not self.db.execute("SELECT 1 FROM sqlite_master WHERE name = 'state_counts'").fetchone():
                self.db.execute(COUNTS)
                self.db.execute("INSERT INTO state_counts SELECT state, COUNT(*), SUM(duplicate != 0) FROM files "
                                "GROUP BY state")  # fmt: skip
                for trigger in COUNT_TRIGGERS:
                    self.db.execute(trigger)

    def close(self) -> None:
        self.db.close()

    def find(self, path: str, size: int, mtime_ns: int) -> Entry | None:
        row = self.db.execute(
            "SELECT * FROM files WHERE path = ? AND size = ? AND mtime_ns = ?", (_stored(path), size, mtime_ns)
        ).fetchone()
        return _entry(row) if row else None

    def add(self, path: str, size: int, mtime_ns: int) -> Entry:
        now = _now()
        self.db.execute(
            "INSERT OR IGNORE INTO files (path, size, mtime_ns, state, seen_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
            (_stored(path), size, mtime_ns, PENDING, now, now),
        )
        entry = self.find(path, size, mtime_ns)
        assert entry is not None
        return entry

    def update(self, entry: Entry, state: str, **fields: object) -> None:
        allowed = {"job_id", "blob_name", "job_state", "duplicate", "reason", "attempts"}
        assert set(fields) <= allowed, fields
        columns = ", ".join(f"{name} = ?" for name in ["state", "updated_at", *fields])
        self.db.execute(
            f"UPDATE files SET {columns} WHERE path = ? AND size = ? AND mtime_ns = ?",  # noqa: S608 (fixed names)
            (state, _now(), *map(_text, fields.values()), _stored(entry.path), entry.size, entry.mtime_ns),
        )

    def in_state(self, *states: str) -> list[Entry]:
        marks = ", ".join("?" for _ in states)
        rows = self.db.execute(f"SELECT * FROM files WHERE state IN ({marks}) ORDER BY seen_at", states)  # noqa: S608
        return [_entry(row) for row in rows]

    def counts(self) -> dict[str, int]:
        """How many versions are in each state (those with any), and `duplicates`: how many the service served
        from the cache. A few rows, whatever the journal's length."""
        rows = self.db.execute("SELECT state, files, duplicates FROM state_counts WHERE files > 0").fetchall()
        return {**{str(state): int(files) for state, files, _ in rows}, "duplicates": sum(int(d) for *_, d in rows)}


def _stored(path: str) -> str | bytes:
    """The path as SQLite can hold it: text, or the file system's bytes for a name that is not UTF-8."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(path)
    return path


def _text(value: object) -> object:
    """A message for people (a reason may quote a path that is not UTF-8): its undecodable bytes as escapes."""
    return value.encode("utf-8", "backslashreplace").decode("utf-8") if isinstance(value, str) else value


def _entry(row: tuple[object, ...]) -> Entry:
    path, size, mtime_ns, state, job_id, blob_name, job_state, duplicate, reason, attempts = row[:10]
    path = os.fsdecode(path) if isinstance(path, bytes) else str(path)
    return Entry(path, int(str(size)), int(str(mtime_ns)), str(state), _opt(job_id), _opt(blob_name),
                 _opt(job_state), bool(duplicate), _opt(reason), int(str(attempts)))  # fmt: skip


def _opt(value: object) -> str | None:
    return None if value is None else str(value)
