"""The sync journal's SQLite tables, index and triggers (sitelens/sync_journal.py, which creates them on open).

`files` holds one row per file version the agent has taken on; `state_counts` is kept in step with it by the
triggers, inside each statement's own transaction, so a pass reads a few rows for its counts whatever the
journal's length; `pruned_counts` tallies what pruning deleted; `journal_meta` holds what a run leaves the next.
"""

from __future__ import annotations

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
# What pruning deleted, per state: `counts()` adds it back, so the status file's terminal counts never fall.
PRUNED = """
CREATE TABLE IF NOT EXISTS pruned_counts (state TEXT PRIMARY KEY, files INTEGER NOT NULL, duplicates INTEGER NOT NULL)
WITHOUT ROWID
"""
# What a run leaves the next (Journal.kept): the API and site of the first open (OWNER), where each pruning sweep
# stands (its key in SWEEPS), and the first sightings sync_settler.py counts a clock-ahead file's wait from.
META = "CREATE TABLE IF NOT EXISTS journal_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID"
