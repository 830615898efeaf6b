"""`sitelens sync --once` runs (a fresh agent each, over one journal) and a truncated photo from a camera whose clock
is ten hours ahead: the run ten minutes after the first that held it sends it, and every run before exits 3."""

from __future__ import annotations

import functools
import os
import time
from pathlib import Path

from sitelens import sync_agent
from sitelens.sync_agent import Agent, SyncSettings
from sitelens.sync_journal import Journal
from tests.unit.sync.fakes import Clock, Service


def wall_at(base: float, clock: Clock) -> float:
    """The wall clock of a run that started at `base` (plus the fake clock's own start), as its clock moves on."""
    return base + clock.now


def test_once_runs_send_a_clock_ahead_truncated_photo_ten_minutes_after_the_first_held_it(tmp_path: Path) -> None:
    folder, state, service = tmp_path / "drop", tmp_path / "state", Service()
    folder.mkdir()
    photo = folder / "IMG_0001.jpg"
    photo.write_bytes(b"\xff\xd8\xff\xe0" + bytes(5000))  # its end never arrives
    start = time.time()
    written = start + 10 * 3600 - 660  # eleven minutes ago by the camera's clock, ten hours ahead
    os.utime(photo, (written, written))
    settings = SyncSettings(folder, settle_s=5.0)
    codes = []
    for minutes in (0, 5, 9, 11):  # a timer's runs
        clock = Clock()
        journal = Journal(state / "journal.sqlite3", now=clock.wall)
        agent = Agent(settings, journal, service.upload, service.job, state / "status.json", clock=clock)
        agent.settler.wall = functools.partial(wall_at, start + minutes * 60 - 1000.0, clock)
        for _ in range(11):  # the run's minute: a pass every 6 s
            agent.step()
            clock.now += 6.0
        codes.append(agent.exit_code())
        journal.close()
    assert service.sent == ["IMG_0001.jpg"] and codes[:3] == [sync_agent.EXIT_OFFLINE] * 3
