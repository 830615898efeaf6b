"""The sync agent with a scripted upload and status API on a manual clock: settling, the journal's states,
back-off, the duplicate report, --move-done, the status file and the exit codes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sitelens import sync_agent
from sitelens.sync_agent import Agent
from sitelens.sync_settler import Settler
from sitelens.upload import Outcome
from tests.unit.sync.fakes import JPEG, Clock, Service, make_rig, status


@pytest.fixture
def rig(tmp_path: Path) -> tuple[Agent, Service, Clock, Path]:
    return make_rig(tmp_path)


def test_a_file_is_taken_only_once_its_size_and_mtime_held_for_the_settle_time():
    settler = Settler(5.0)
    assert settler.observe({"a.jpg": (10, 1)}, 0.0) == []
    assert settler.observe({"a.jpg": (20, 2)}, 4.0) == []  # still growing: the clock starts again
    assert settler.observe({"a.jpg": (20, 2)}, 8.9) == []
    assert settler.observe({"a.jpg": (20, 2)}, 9.0) == [("a.jpg", 20, 2)]
    assert settler.observe({"a.jpg": (20, 3)}, 9.5) == []  # touched again


def test_a_growing_file_is_uploaded_once_whole_after_it_settles(rig):
    agent, service, clock, folder = rig
    photo = folder / "IMG_1.jpg"
    photo.write_bytes(JPEG[:100])
    agent.step()
    assert status(agent)["settling"] == [{"path": str(photo), "size": 100}]
    clock.now += 4
    with photo.open("ab") as f:
        f.write(JPEG[100:])
    os.utime(photo, ns=(1, 2))  # a distinct mtime, whatever the file system's resolution
    agent.step()
    clock.now += 4.9
    agent.step()
    assert service.sent == []
    clock.now += 0.1
    agent.step()
    assert service.sent == ["IMG_1.jpg"]
    clock.now += 60
    agent.step()
    assert service.sent == ["IMG_1.jpg"]  # never again
    assert agent.exit_code() == sync_agent.EXIT_OK


def test_the_link_down_backs_off_capped_and_keeps_the_photo_pending(rig):
    agent, service, clock, folder = rig
    (folder / "a.jpg").write_bytes(JPEG)
    (folder / "b.jpg").write_bytes(JPEG)
    service.script = [Outcome("a", "failed", reason="unreachable: refused")] * 6
    agent.step()
    clock.now += 5
    waits = []
    for _ in range(6):
        agent.step()
        waits.append(agent.backoff_until - clock.now)
        clock.now = agent.backoff_until
    assert waits == [2.0, 4.0, 8.0, 16.0, 30.0, 30.0]  # jitter at its top: the whole step, capped
    assert service.sent == ["a.jpg"] * 6  # b waited behind a: one try per back-off, not one per file
    doc = status(agent)
    assert doc["pending"] == 2 and doc["last_error"]["reason"] == "unreachable"
    assert agent.exit_code() == sync_agent.EXIT_OFFLINE
    agent.step()  # the link is back
    assert service.sent[-2:] == ["a.jpg", "b.jpg"] and status(agent)["pending"] == 0


def test_jitter_spreads_the_wait_between_half_and_all_of_the_step(rig):
    agent, service, clock, folder = rig
    agent.jitter = lambda: 0.0
    (folder / "a.jpg").write_bytes(JPEG)
    service.script = [Outcome("a", "failed", reason="storage_503: busy")]
    agent.step()
    clock.now += 5
    agent.step()
    assert agent.backoff_until - clock.now == 1.0


def test_a_photo_the_service_refuses_is_failed_for_good_and_not_sent_again(rig):
    agent, service, clock, folder = rig
    (folder / "x.jpg").write_bytes(b"GIF89a")
    service.script = [Outcome("x", "failed", reason="unsupported_type: not a JPEG or PNG file")]
    agent.step()
    clock.now += 5
    agent.step()
    clock.now += 5
    agent.step()
    assert service.sent == ["x.jpg"] and status(agent)["failed"] == 1
    assert agent.exit_code() == sync_agent.EXIT_FAILED


def test_a_photo_deleted_before_upload_is_never_sent(rig):
    agent, service, clock, folder = rig
    photo = folder / "gone.jpg"
    photo.write_bytes(JPEG)
    agent.step()
    photo.unlink()
    clock.now += 10
    agent.step()
    assert service.sent == [] and agent.exit_code() == sync_agent.EXIT_OK


def test_a_photo_deleted_while_it_uploads_is_gone_not_failed(rig):
    agent, _, clock, folder = rig
    photo = folder / "gone.jpg"
    photo.write_bytes(JPEG)

    def vanish(path: Path) -> Outcome:
        path.unlink()
        return Outcome(str(path), "failed", reason="unreadable: [Errno 2] No such file")

    agent.upload = vanish
    agent.step()
    clock.now += 5
    agent.step()
    doc = status(agent)
    assert (doc["gone"], doc["failed"], doc["pending"], doc["last_error"]) == (1, 0, 0, None)


def test_a_duplicate_is_reported_once_its_job_is_terminal_and_confirmed_photos_move_away(rig, tmp_path):
    agent, service, clock, folder = rig
    (folder / "one.jpg").write_bytes(JPEG)
    (folder / "two.jpg").write_bytes(JPEG)
    agent.step()
    clock.now += 5
    agent.step()
    assert status(agent)["uploaded"] == 2
    assert sorted(p.name for p in folder.iterdir()) == ["one.jpg", "two.jpg"]  # not moved before the API knows
    service.jobs["j_one"] = {"id": "j_one", "state": "RUNNING", "cached": False}
    service.jobs["j_two"] = {"id": "j_two", "state": "QUEUED", "cached": True}
    clock.now += 5
    agent.step()
    assert status(agent)["confirmed"] == 2
    assert sorted(p.name for p in (tmp_path / "done").iterdir()) == ["one.jpg", "two.jpg"]
    assert list(folder.iterdir()) == []
    service.jobs["j_one"]["state"] = service.jobs["j_two"]["state"] = "SUCCEEDED"
    clock.now += 5
    agent.step()
    doc = status(agent)
    assert (doc["finished"], doc["duplicates"]) == (2, 1)
    [entry] = [e for e in agent.journal.in_state("finished") if e.duplicate]
    assert Path(entry.path).name == "two.jpg"


def test_the_status_api_down_backs_off_without_losing_the_upload(rig):
    agent, service, clock, folder = rig
    (folder / "a.jpg").write_bytes(JPEG)
    agent.step()
    clock.now += 5
    service.down = True
    agent.step()
    doc = status(agent)
    assert doc["uploaded"] == 1 and doc["state"] == "backing_off" and doc["last_error"]["reason"] == "unreachable"


def test_the_status_file_is_replaced_whole(rig):
    agent, _, _, folder = rig
    (folder / "a.jpg").write_bytes(JPEG)
    for _ in range(3):
        agent.step()
    assert sorted(p.name for p in agent.status_path.parent.iterdir() if p.name.startswith(".status")) == []
    doc = status(agent)
    assert doc["pid"] == os.getpid() and doc["settling"][0]["path"].endswith("a.jpg") and doc["state"] == "running"
