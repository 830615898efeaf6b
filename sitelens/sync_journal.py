"""The sync agent's durable memory: one SQLite row per file version it has taken on (sitelens/sync_agent.py).

A file version is its path, size and mtime: a file rewritten under the same name is a new version (and, its
content being different, a new photo id). Rows move forward only, but for one way back:

    pending ──► uploaded ──► confirmed (the API answers the job) ──► finished (the job is terminal)
       │           │              │
       │           └──────────────┴──► unknown (the API answers not_found for the job 8 days on: sync_agent.py)
       │
       ├──► failed (the service refused the photo for good: wrong type, too large, a bad id)
       └──► gone (deleted before it was uploaded) ──► pending (the same version is back in the folder)

Every change is committed before the agent acts on it (`synchronous=FULL`, WAL), so a kill -9 or a power cut loses at
most the step in flight, and that step is safe to repeat: the photo id comes from the content, so the service hands
back the same reservation and the blocks already staged. Rows are true of one API and one site (`OWNER`).

A path is stored as text, or, when its name is not valid UTF-8 (Python holds such bytes as surrogate escapes,
which SQLite cannot store as text), as the file system's bytes in a BLOB: lossless either way, and a journal
written before such names were handled reads the same.

A pass reads only what it needs: the few versions in a given state (an index on state and age; the `finished`
ones, nearly all the rows, are never read again), and the count in each state from `state_counts`, which
triggers keep in step with every insert, update and delete inside that statement's own transaction. A journal
from before either, or before `next_look_at` (`look_later`), is given what it lacks when it is opened, once.

History that can no longer matter is pruned (`prune`), so the file stops growing (a photo every 30 s is about a
million rows a year): a row in a state the agent is done with (`finished`, `failed`, `gone`, `unknown`), unchanged for
`KEEP_DAYS`, whose version is not in the drop folder. A version still there keeps its row for good: the row is
the agent's only memory that it was sent (or refused), and without it the file would go again as a new photo.
A sweep starts at most once a day and deletes in small batches, one a pass. `counts()` stays a count since the
journal began: what a sweep deleted is tallied in `pruned_counts` in the same transaction. `unknown` rows have a
sweep of their own (`SWEEPS`), so that the one releases before `unknown` read names only states they know.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sitelens.sync_journal_schema import COUNT_TRIGGERS, COUNTS, META, PRUNED, SCHEMA, STATE_INDEX

PENDING, UPLOADED, CONFIRMED, FINISHED, FAILED, GONE = "pending", "uploaded", "confirmed", "finished", "failed", "gone"
UNKNOWN = "unknown"  # uploaded, but its job is unknown to the API for good: no longer asked after
# 30 days: the decisive condition is that the version left the folder; the wait is a margin for a folder that
# lists only part of what it holds for a while (a card swapped out and back, a share half mounted), and a
# month of history an operator can still look up. At a photo every 30 s that is about 86,000 rows (~25 MB).
KEEP_DAYS = 30
OWNER = ("api", "site")  # journal_meta's keys for the API (sync_command.api_identity) and site of the first open
PRUNE_EVERY = timedelta(days=1)
PRUNE_BATCH = 500  # rows looked at per pass: one short transaction, so a pass (and its uploads) is not held up
# Each sweep, under its key in journal_meta, and the states it walks one after the other (a sweep a journal saved
# mid-way goes on through the later ones). A release before `unknown` reads "prune" and fails on a state it does not
# know, on every pass: so "prune" never names `unknown`, which has a sweep that such a release never reads.
SWEEPS = {"prune": (FAILED, FINISHED, GONE), "prune_unknown": (UNKNOWN,)}


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
    updated_at: datetime  # the row's last change: for `uploaded` the upload, for `confirmed` the job's first answer
    next_look_at: datetime | None  # not before then is its job asked after again (None: at the agent's next pass)


@dataclass
class Sweep:
    """Where a pruning sweep stands: it deletes rows last changed before `cutoff`, walking its states (`SWEEPS`)
    one by one, each in the index's order (seen_at, then rowid) from just after (`seen_at`, `rowid`). The fields are
    what every release reads and writes: a release given one more would fail on a row that lacks it, or has it."""

    started: str
    cutoff: str
    state: str | None
    seen_at: str = ""
    rowid: int = 0

    def next_state(self, states: tuple[str, ...]) -> None:
        following = states[states.index(self.state) + 1 :] if self.state in states else ()
        self.state, self.seen_at, self.rowid = (following[0] if following else None), "", 0


def _stamp(moment: datetime) -> str:
    """A time as the journal stores it: ISO 8601 in UTC, so that the text sorts as the times do."""
    return moment.astimezone(UTC).isoformat()


class Journal:
    def __init__(self, path: Path, *, now: Callable[[], datetime] = lambda: datetime.now(UTC),
                 owner: Mapping[str, str] | None = None) -> None:  # fmt: skip
        self.now = now
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None)  # autocommit: each statement is its own commit
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("BEGIN IMMEDIATE")  # one writer: no row changes between the recount and its triggers
        with self.db:  # commits, or rolls back whatever an error interrupted
            self.db.execute(SCHEMA)
            if "next_look_at" not in {row[1] for row in self.db.execute("PRAGMA table_info(files)")}:
                # Appended: every release reads a row's first 10 or 12 columns, so one rolled back to leaves it be.
                self.db.execute("ALTER TABLE files ADD COLUMN next_look_at TEXT")
            self.db.execute(STATE_INDEX)
            self.db.execute(PRUNED)
            self.db.execute(META)
            self.recorded_owner = dict(self.db.execute("SELECT * FROM journal_meta WHERE key IN (?, ?)", OWNER))
            self.db.executemany("INSERT OR IGNORE INTO journal_meta VALUES (?, ?)", (owner or {}).items())
            if not self.db.execute("SELECT 1 FROM sqlite_master WHERE name = 'state_counts'").fetchone():
                self.db.execute(COUNTS)
                self.db.execute("INSERT INTO state_counts SELECT state, COUNT(*), SUM(duplicate != 0) FROM files "
                                "GROUP BY state")  # fmt: skip
                for trigger in COUNT_TRIGGERS:
                    self.db.execute(trigger)

    def close(self) -> None:
        self.db.close()

    def kept(self, key: str) -> str | None:
        """What a run left the next under `key` (journal_meta): a sweep's place, sync_settler.py's first sightings."""
        row = self.db.execute("SELECT value FROM journal_meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else None

    def keep(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO journal_meta VALUES (?, ?)", (key, value))

    def find(self, path: str, size: int, mtime_ns: int) -> Entry | None:
        row = self.db.execute(
            "SELECT * FROM files WHERE path = ? AND size = ? AND mtime_ns = ?", (_stored(path), size, mtime_ns)
        ).fetchone()
        return _entry(row) if row else None

    def add(self, path: str, size: int, mtime_ns: int) -> Entry:
        now = _stamp(self.now())
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
            (state, _stamp(self.now()), *map(_text, fields.values()), _stored(entry.path), entry.size, entry.mtime_ns),
        )

    def look_later(self, entry: Entry, at: datetime) -> None:
        """Ask after the entry's job not before `at`, in this run or the next (`--once`); `updated_at` stays."""
        self.db.execute("UPDATE files SET next_look_at = ? WHERE path = ? AND size = ? AND mtime_ns = ?",
                        (_stamp(at), _stored(entry.path), entry.size, entry.mtime_ns))  # fmt: skip

    def in_state(self, *states: str) -> list[Entry]:
        marks = ", ".join("?" for _ in states)
        rows = self.db.execute(f"SELECT * FROM files WHERE state IN ({marks}) ORDER BY seen_at", states)  # noqa: S608
        return [_entry(row) for row in rows]

    def counts(self) -> dict[str, int]:
        """How many versions are in each state (those with any), and `duplicates`: how many the service served
        from the cache; since the journal began, rows pruned included. A few rows, whatever the journal's length."""
        rows = self.db.execute(
            "SELECT state, SUM(files), SUM(duplicates) FROM "
            "(SELECT * FROM state_counts UNION ALL SELECT * FROM pruned_counts) GROUP BY state HAVING SUM(files) > 0"
        ).fetchall()
        return {**{str(state): int(files) for state, files, _ in rows}, "duplicates": sum(int(d) for *_, d in rows)}

    def prune(self, listing: Mapping[str, tuple[int, int]]) -> int:
        """Delete up to `PRUNE_BATCH` rows of history that can no longer matter; the number deleted.

        `listing` is the pass's own listing of the drop folder (path → size, mtime_ns): a version in it keeps its
        row. An empty listing prunes nothing: a share not mounted, or a card out, lists nothing, and its photos
        would be sent again once back. A sweep starts at most once every `PRUNE_EVERY`, each pass going on from
        where the last stopped, in one transaction with the tally of what it deleted."""
        if not listing:
            return 0
        due = [(key, sweep) for key in SWEEPS if (sweep := self._sweep(key, self.now())) is not None]
        if not due:
            return 0
        deleted, budget = 0, PRUNE_BATCH  # shared by the sweeps due, one after the other
        self.db.execute("BEGIN IMMEDIATE")
        with self.db:
            for key, sweep in due:
                pruned, looked = self._walk(sweep, SWEEPS[key], listing, budget)
                deleted, budget = deleted + pruned, budget - looked
                self.keep(key, json.dumps(asdict(sweep)))
        return deleted

    def _walk(self, sweep: Sweep, states: tuple[str, ...], listing: Mapping[str, tuple[int, int]],
              budget: int) -> tuple[int, int]:  # fmt: skip
        """Take `sweep` on through its `states` by up to `budget` rows (the caller's transaction): how many rows it
        deleted, and how many it looked at."""
        deleted, looked = 0, 0
        while sweep.state is not None and looked < budget:
            rows = self.db.execute(
                "SELECT rowid, path, size, mtime_ns, duplicate, updated_at, seen_at FROM files WHERE state = ? "
                "AND seen_at < ? AND (seen_at, rowid) > (?, ?) ORDER BY seen_at, rowid LIMIT ?",
                (sweep.state, sweep.cutoff, sweep.seen_at, sweep.rowid, budget - looked),
            ).fetchall()
            # updated_at is never before seen_at, so the index's range on seen_at holds every row old enough.
            unlisted = [(rowid, bool(dup)) for rowid, path, size, mtime_ns, dup, updated_at, _ in rows
                        if updated_at < sweep.cutoff and listing.get(_path(path)) != (size, mtime_ns)]  # fmt: skip
            deleted += self._delete(sweep.state, unlisted)
            looked += len(rows)
            if rows:
                sweep.rowid, sweep.seen_at = int(rows[-1][0]), str(rows[-1][6])
            if looked < budget:  # fewer rows than asked: this state is swept, so on to the next (None: all done)
                sweep.next_state(states)
        return deleted, looked

    def _sweep(self, key: str, now: datetime) -> Sweep | None:
        """The sweep in progress under `key`, a new one if the last began `PRUNE_EVERY` ago (or the clock has gone
        back before it began), or None: nothing to do until then. A sweep saved at a state this one does not walk
        (the journal of a release that walked `unknown` under "prune") is started afresh, and so rewritten at once."""
        states = SWEEPS[key]
        last = Sweep(**json.loads(saved)) if (saved := self.kept(key)) is not None else None
        if last is not None and last.state in states:
            return last
        if last is not None and last.state is None and _stamp(now - PRUNE_EVERY) < last.started <= _stamp(now):
            return None
        return Sweep(started=_stamp(now), cutoff=_stamp(now - timedelta(days=KEEP_DAYS)), state=states[0])

    def _delete(self, state: str, rows: list[tuple[int, bool]]) -> int:
        """Delete these rows (rowid, duplicate) of one state, and tally them as pruned (the caller's transaction)."""
        if rows:
            self.db.executemany("DELETE FROM files WHERE rowid = ?", [(rowid,) for rowid, _ in rows])
            self.db.execute(
                "INSERT INTO pruned_counts VALUES (?, ?, ?) ON CONFLICT (state) DO UPDATE SET "
                "files = files + excluded.files, duplicates = duplicates + excluded.duplicates",
                (state, len(rows), sum(1 for _, duplicate in rows if duplicate)),
            )
        return len(rows)


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


def _path(stored: object) -> str:
    """A stored path as the file system's listing names it (the inverse of `_stored`)."""
    return os.fsdecode(stored) if isinstance(stored, bytes) else str(stored)


def _entry(row: tuple[object, ...]) -> Entry:
    path, size, mtime_ns, state, job_id, blob_name, job_state, duplicate, reason, attempts, _, updated, look = row[:13]
    return Entry(_path(path), int(str(size)), int(str(mtime_ns)), str(state), _opt(job_id), _opt(blob_name),
                 _opt(job_state), bool(duplicate), _opt(reason), int(str(attempts)),
                 datetime.fromisoformat(str(updated)), datetime.fromisoformat(str(look)) if look else None)  # fmt: skip


def _opt(value: object) -> str | None:
    return None if value is None else str(value)
