"""A truncated photo whose mtime is ahead of the wall clock (a camera whose clock is set ahead, or in UTC+10 writing
a FAT card the gateway reads as UTC): its mtime says nothing of how long it has waited, so its ten minutes count
from when a run first held it, kept in a real journal, and `--once` runs (a fresh Settler each, a minute long)
send it ten minutes after the first of them saw it, not once the wall clock reaches its mtime."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sitelens import sync_settler
from sitelens.sync_journal import Journal
from sitelens.sync_settler import FIRST_HELD, INCOMPLETE_S, Settler

WALL = 1_800_000_000.0  # the gateway's wall clock at the first run (2027-01-15)
AHEAD_S = 10 * 3600.0  # the camera's clock, ten hours ahead
TRUNCATED = "/drop/IMG_0001.jpg"


class Wall:
    def __init__(self) -> None:
        self.now = WALL

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal(tmp_path / "journal.sqlite3")


@pytest.fixture
def truncated(monkeypatch: pytest.MonkeyPatch) -> dict[str, tuple[int, int]]:
    """The listing: one photo whose end never arrives, written (by the camera's clock) eleven minutes ago."""
    monkeypatch.setattr(sync_settler, "is_whole", lambda path: path != TRUNCATED)
    return {TRUNCATED: (5000, int((WALL + AHEAD_S - INCOMPLETE_S - 60) * 1e9))}


def once_run(files: dict[str, tuple[int, int]], wall: Wall, journal: Journal) -> list[str]:
    """One `--once` run: a fresh Settler, passes over a minute of the agent's clock; what settled in it (the agent
    sends each version once: its journal remembers)."""
    settler = Settler(5.0, INCOMPLETE_S, wall=wall, kept=journal)
    return list(dict.fromkeys(path for t in (0.0, 6.0, 60.0) for path, _, _ in settler.observe(files, t)))


def test_once_runs_send_it_ten_minutes_after_the_first_held_it(truncated, journal):
    wall = Wall()
    for minutes in (0, 5, 9):  # a timer's runs: each held it, none sends it
        wall.now = WALL + minutes * 60
        assert once_run(truncated, wall, journal) == [], minutes
    wall.now = WALL + INCOMPLETE_S + 6  # ten minutes after the first run held it (6 s into that run)
    assert once_run(truncated, wall, journal) == [TRUNCATED]


def test_a_run_after_the_journal_was_closed_and_opened_again_counts_from_the_same_first_sighting(
    truncated, journal, tmp_path
):
    wall = Wall()
    assert once_run(truncated, wall, journal) == []
    journal.close()
    wall.now = WALL + INCOMPLETE_S + 6
    assert once_run(truncated, wall, Journal(tmp_path / "journal.sqlite3")) == [TRUNCATED]


def test_the_first_sighting_is_of_that_version_and_forgotten_once_it_leaves_the_folder(truncated, journal):
    wall = Wall()
    assert once_run(truncated, wall, journal) == []
    assert [row[0] for row in json.loads(journal.kept(FIRST_HELD) or "[]")] == [TRUNCATED]
    size, mtime_ns = truncated[TRUNCATED]
    grown = {TRUNCATED: (size + 100, mtime_ns + 10**9)}  # more of it arrived: a new version, a new wait
    wall.now = WALL + INCOMPLETE_S + 6
    assert once_run(grown, wall, journal) == []
    assert once_run({}, wall, journal) == []  # a card out lists nothing: nothing forgotten for that
    assert [row[1] for row in json.loads(journal.kept(FIRST_HELD) or "[]")] == [size + 100]
    assert once_run({"/drop/other.jpg": (10, int(WALL * 1e9))}, wall, journal) == ["/drop/other.jpg"]
    assert json.loads(journal.kept(FIRST_HELD) or "[]") == []  # the truncated photo left the folder


def test_a_first_sighting_ahead_of_a_clock_set_back_counts_from_now(truncated, journal):
    wall = Wall()
    assert once_run(truncated, wall, journal) == []
    wall.now = WALL - 3600  # the gateway's clock set back an hour: not an hour more to wait
    assert once_run(truncated, wall, journal) == []
    wall.now = WALL - 3600 + INCOMPLETE_S + 6
    assert once_run(truncated, wall, journal) == [TRUNCATED]


def test_whole_photos_and_honest_mtimes_keep_nothing_in_the_journal(truncated, journal):
    wall = Wall()
    ahead = {"/drop/whole.jpg": (10, int((WALL + AHEAD_S) * 1e9))}
    assert once_run(ahead, wall, journal) == ["/drop/whole.jpg"]  # whole: sent once settled, whatever its mtime
    honest = {TRUNCATED: (5000, int((WALL - INCOMPLETE_S - 60) * 1e9))}  # eleven minutes old by the wall clock
    assert once_run(honest, wall, journal) == [TRUNCATED]  # its mtime counts, as before
    assert journal.kept(FIRST_HELD) is None


def test_first_sightings_the_journal_cannot_read_are_none(truncated, journal):
    for damaged in ("{", "[[1]]", "[1]", '{"a": 1}', '[["a.jpg", "x", 2, 3]]'):
        journal.keep(FIRST_HELD, damaged)
        assert Settler(5.0, kept=journal).first_held == {}, damaged
