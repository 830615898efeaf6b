"""--move-done with real files on disk, where the done folder cannot take the photo as asked: a long name that the
appended mtime would push past the file system's NAME_MAX is cut short to fit, at a character's end; and a move the
folder refuses outright leaves the photo where it is, sent once, while the agent (and its restart) goes on."""

from __future__ import annotations

import errno
import logging
import os
import shutil
from pathlib import Path

import pytest

from sitelens.sync_agent import UNREADABLE_RETRY_S, Agent
from sitelens.sync_journal import Journal
from sitelens.upload import Outcome
from tests.unit.sync.fakes import Clock, Service, jpeg, make_rig, status

# 1 + 80 * 3 = 241 bytes of UTF-8: with `-{19-digit mtime}.jpg` (24 bytes) the name would be 265, past 255.
LONG_STEM = "A" + "現場写真" * 20


@pytest.fixture
def rig(tmp_path: Path) -> tuple[Agent, Service, Clock, Path]:
    return make_rig(tmp_path)


def confirm(agent: Agent, service: Service, clock: Clock, *names: str) -> None:
    """Settle and send the photos, then have the API answer their jobs (what --move-done waits for)."""
    for _ in range(2):
        agent.step()
        clock.now += 6
    for name in names:
        service.jobs[f"j_{Path(name).stem}"] = {"state": "RUNNING"}
    agent.step()


def restart(agent: Agent, service: Service, clock: Clock, tmp_path: Path) -> Agent:
    """The agent as systemd starts it again: the same journal, folders and status file, nothing else kept."""
    agent.journal.close()
    journal = Journal(tmp_path / "state" / "journal.sqlite3", now=clock.wall)
    return Agent(agent.settings, journal, service.upload, service.job, agent.status_path, clock=clock,
                 jitter=lambda: 1.0)  # fmt: skip


def test_a_long_cjk_name_taken_in_the_done_folder_is_cut_short_at_a_character_to_fit_name_max(rig, tmp_path):
    agent, service, clock, folder = rig
    done = tmp_path / "done"
    done.mkdir()
    name_max = os.pathconf(done, "PC_NAME_MAX")
    photo = folder / f"{LONG_STEM}.jpg"
    first, second = jpeg(b"first photo"), jpeg(b"second photo, same name and mtime")
    photo.write_bytes(first)
    mtime_ns = 1_764_412_345_123_456_789
    os.utime(photo, ns=(mtime_ns, mtime_ns))
    (done / photo.name).write_bytes(b"an earlier photo of the same name")
    tail = f"-{mtime_ns}.jpg"
    assert len(os.fsencode(LONG_STEM + tail)) > name_max  # what the move asked for before: ENAMETOOLONG
    confirm(agent, service, clock, photo.name)

    moved = [p for p in done.iterdir() if p.name != photo.name]
    assert [p.read_bytes() for p in moved] == [first] and not photo.exists()
    assert (done / photo.name).read_bytes() == b"an earlier photo of the same name"
    [name] = [p.name for p in moved]
    assert name.endswith(tail) and LONG_STEM.startswith(name.removesuffix(tail))
    size = len(name.encode("utf-8"))  # strict UTF-8: the cut fell between characters
    assert size <= name_max < size + len("真".encode())  # as long as fits: one more character would not
    assert status(agent)["last_error"] is None

    # The same name again, with the same mtime (a card formatted, a camera's clock reset): the counter goes after
    # the mtime, and the stem is cut shorter still to make room for it. Another photo: another job.
    photo.write_bytes(second)
    os.utime(photo, ns=(mtime_ns, mtime_ns))
    service.script = [Outcome(str(photo), "uploaded", "s/d/second", "j_second")]
    confirm(agent, service, clock, "second.jpg")
    [counted] = [p for p in done.iterdir() if p.name.endswith(f"-{mtime_ns}-1.jpg")]
    assert counted.read_bytes() == second and len(os.fsencode(counted.name)) <= name_max
    assert LONG_STEM.startswith(counted.name.removesuffix(f"-{mtime_ns}-1.jpg"))
    assert sorted(service.sent) == [photo.name, photo.name] and not photo.exists()


def test_a_done_folder_that_refuses_the_move_leaves_the_photo_sent_once_and_the_agent_going(
    rig, tmp_path, caplog: pytest.LogCaptureFixture
):
    agent, service, clock, folder = rig
    (tmp_path / "done").write_bytes(b"")  # a file where the done folder should be: refused whoever runs the agent
    (folder / "first.jpg").write_bytes(jpeg(b"first"))
    caplog.set_level(logging.WARNING, logger="sitelens.sync")
    confirm(agent, service, clock, "first.jpg")

    doc = status(agent)
    assert (folder / "first.jpg").exists() and doc["confirmed"] == 1 and doc["state"] == "running"
    assert doc["last_error"]["reason"] == "move_failed" and doc["last_error"]["path"] == str(folder / "first.jpg")
    assert "File exists" in doc["last_error"]["detail"]
    assert sum("could not be moved" in r.getMessage() for r in caplog.records) == 1

    # A photo dropped later is still sent; the first is neither sent again nor retried before its minute is up.
    (folder / "second.jpg").write_bytes(jpeg(b"second"))
    confirm(agent, service, clock, "second.jpg")
    assert sorted(service.sent) == ["first.jpg", "second.jpg"]
    assert sum("could not be moved" in r.getMessage() for r in caplog.records) == 2  # second's own, once
    clock.now += UNREADABLE_RETRY_S
    agent.step()
    assert sum("could not be moved" in r.getMessage() for r in caplog.records) == 4  # both, tried again

    # A restart recovers the moves at once: it does not die on them, and sends nothing again.
    agent = restart(agent, service, clock, tmp_path)
    agent.step()
    assert sorted(service.sent) == ["first.jpg", "second.jpg"] and status(agent)["state"] == "running"
    assert sorted(p.name for p in folder.glob("*.jpg")) == ["first.jpg", "second.jpg"]

    # The folder is fixed: the next try moves both, still without sending them again.
    (tmp_path / "done").unlink()
    (tmp_path / "done").mkdir()
    clock.now += UNREADABLE_RETRY_S
    agent.step()
    assert sorted(p.name for p in (tmp_path / "done").iterdir()) == ["first.jpg", "second.jpg"]
    assert list(folder.glob("*.jpg")) == [] and sorted(service.sent) == ["first.jpg", "second.jpg"]


def test_a_disk_full_during_the_move_leaves_no_claimed_name_behind_and_the_photo_in_place(rig, tmp_path, monkeypatch):
    agent, service, clock, folder = rig
    (folder / "full.jpg").write_bytes(jpeg(b"full"))

    def disk_full(source: Path, target: Path) -> object:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(target))

    monkeypatch.setattr(shutil, "move", disk_full)
    confirm(agent, service, clock, "full.jpg")
    assert (folder / "full.jpg").exists() and list((tmp_path / "done").iterdir()) == []
    error = status(agent)["last_error"]
    assert error["reason"] == "move_failed" and os.strerror(errno.ENOSPC) in error["detail"]
    assert service.sent == ["full.jpg"]


def test_a_done_folder_gone_between_the_claim_and_the_move_is_a_failed_move_not_a_photo_moved_away(
    rig, tmp_path, monkeypatch
):
    agent, service, clock, folder = rig
    (folder / "stays.jpg").write_bytes(jpeg(b"stays"))
    real_move = shutil.move

    def unmounted_first(source: Path, target: Path) -> object:
        shutil.rmtree(Path(target).parent)  # the done folder's disk unplugged: its name is gone, the photo is not
        return real_move(source, target)

    monkeypatch.setattr(shutil, "move", unmounted_first)
    confirm(agent, service, clock, "stays.jpg")
    assert (folder / "stays.jpg").exists() and status(agent)["last_error"]["reason"] == "move_failed"
