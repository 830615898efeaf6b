"""The sync agent with files that misbehave (a name that is not UTF-8, a file it cannot read, a photo that leaves
the folder and comes back), the back-off after the status API answers, and who may read the status file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from sitelens import sync_agent
from sitelens.sync_agent import Agent
from sitelens.sync_journal import Journal
from sitelens.upload import Outcome
from tests.unit.sync.fakes import JPEG, Clock, Service, jpeg, make_rig, status


@pytest.fixture
def rig(tmp_path: Path) -> tuple[Agent, Service, Clock, Path]:
    return make_rig(tmp_path)


def test_a_name_that_is_not_utf8_is_journaled_as_it_is_and_sent(rig, tmp_path):
    agent, service, clock, folder = rig
    latin1 = os.fsdecode(os.fsencode(folder) + b"/\xdcbersicht.jpg")  # "Übersicht.jpg" written by a Latin-1 client
    Path(latin1).write_bytes(JPEG)
    ascii_name = folder / "IMG_0002.jpg"
    ascii_name.write_bytes(JPEG)
    # The first try at the Latin-1 name fails with a reason that quotes the name: that too goes into the journal.
    service.script = [
        Outcome(str(ascii_name), "uploaded", "s/d/IMG_0002.jpg", "j_IMG_0002"),
        Outcome(latin1, "failed", reason=f"unreadable: [Errno 13] Permission denied: {latin1!r}"),
    ]
    agent.step()
    clock.now += 5
    agent.step()
    clock.now += sync_agent.UNREADABLE_RETRY_S
    agent.step()
    assert service.sent == ["IMG_0002.jpg", Path(latin1).name, Path(latin1).name]
    assert (status(agent)["pending"], status(agent)["uploaded"]) == (0, 2)
    agent.journal.close()
    journal = Journal(tmp_path / "state" / "journal.sqlite3")  # a restart reads back the very same name
    assert sorted(entry.path for entry in journal.in_state("uploaded")) == [str(ascii_name), latin1]
    journal.close()


def test_an_unreadable_photo_waits_for_its_own_retry_while_the_others_go_out(rig):
    agent, service, clock, folder = rig
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        (folder / name).write_bytes(jpeg(name.encode()))
    service.script = [Outcome("a", "failed", reason="unreadable: [Errno 13] Permission denied: 'a.jpg'")]
    agent.step()
    clock.now += 5
    agent.step()
    assert service.sent == ["a.jpg", "b.jpg", "c.jpg"]  # a's fault alone: the files after it still go out
    doc = status(agent)
    assert (doc["state"], doc["backoff_until"], doc["pending"], doc["unreadable"]) == ("running", None, 1, 1)
    assert doc["last_error"]["reason"] == "unreadable" and doc["last_error"]["path"] == str(folder / "a.jpg")
    assert agent.idle() and agent.exit_code() == sync_agent.EXIT_FAILED  # not "offline": the link is fine
    clock.now += 5
    agent.step()
    assert service.sent == ["a.jpg", "b.jpg", "c.jpg"]  # not read again every pass
    clock.now += sync_agent.UNREADABLE_RETRY_S
    agent.step()  # the permissions were fixed meanwhile
    assert service.sent[-1] == "a.jpg" and (status(agent)["pending"], status(agent)["unreadable"]) == (0, 0)
    assert agent.exit_code() == sync_agent.EXIT_OK


def test_a_pending_photo_that_leaves_and_comes_back_unchanged_is_sent(rig, tmp_path):
    agent, service, clock, folder = rig
    photo, aside = folder / "IMG_0001.jpg", tmp_path / "IMG_0001.jpg"
    photo.write_bytes(JPEG)
    service.script = [Outcome(str(photo), "failed", reason="unreachable: refused")]
    agent.step()
    clock.now += 5
    agent.step()  # the link is down: pending
    photo.rename(aside)  # out and back again (a rename keeps the size and mtime), or a share that listed nothing
    clock.now += 5
    agent.step()
    assert status(agent)["gone"] == 1
    aside.rename(photo)
    for _ in range(3):
        clock.now += 5
        agent.step()
    assert service.sent == ["IMG_0001.jpg", "IMG_0001.jpg"]
    doc = status(agent)
    assert (doc["pending"], doc["gone"], doc["uploaded"]) == (0, 0, 1) and agent.exit_code() == sync_agent.EXIT_OK


def test_an_answer_from_the_status_api_resets_the_back_off(rig):
    agent, service, clock, folder = rig
    (folder / "a.jpg").write_bytes(JPEG)
    agent.step()
    clock.now += 5
    agent.step()  # uploaded; its job not known yet (404)
    waits = []
    for down in (True, True, False, True):
        clock.now = max(clock.now + sync_agent.JOB_POLL_S, agent.backoff_until)
        service.down = down
        agent.step()
        waits.append(agent.backoff_until - clock.now if down else None)
    assert waits == [2.0, 4.0, None, 2.0]  # the API answered in between: the first failure after it waits 2 s


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o027, 0o640)])
def test_the_status_file_is_as_readable_as_the_umask_allows(rig, umask, mode):
    agent, _, _, _ = rig
    old = os.umask(umask)
    try:
        agent.step()
    finally:
        os.umask(old)
    assert stat.S_IMODE(agent.status_path.stat().st_mode) == mode  # monitoring may run as another user
