"""The sync agent with real files on disk: a transfer that stalls for longer than the settle time is not sent until
the photo is whole (or has not changed for the longer bound), and --move-done never overwrites and survives a
photo that someone else moved away first."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from batch_tasks.ocr.opencv import cv2
from sitelens import sync_agent
from sitelens.sync_agent import Agent
from sitelens.upload import Outcome
from tests.unit.sync.fakes import Clock, Service, make_rig, status


def encoded(ext: str) -> bytes:
    """A real JPEG or PNG, as an encoder writes it."""
    pixels = np.random.default_rng(1).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    return bytes(cv2.imencode(ext, pixels)[1].tobytes())


@pytest.fixture
def rig(tmp_path: Path) -> tuple[Agent, Service, Clock, Path]:
    return make_rig(tmp_path)


def passes(agent: Agent, clock: Clock, n: int, dt: float = 6.0) -> None:
    for _ in range(n):
        agent.step()
        clock.now += dt


def test_a_transfer_that_stalls_past_the_settle_time_is_sent_once_whole(rig: tuple[Agent, Service, Clock, Path]):
    agent, service, clock, folder = rig
    sent: list[bytes] = []

    def upload(path: Path) -> Outcome:
        sent.append(path.read_bytes())
        return service.upload(path)

    agent.upload = upload
    data, photo = encoded(".jpg"), folder / "IMG_0001.jpg"
    photo.write_bytes(data[: len(data) // 2])  # the Wi-Fi link stalls mid-file for longer than --settle
    passes(agent, clock, 3)
    assert sent == []
    assert status(agent)["settling"] == [{"path": str(photo), "size": len(data) // 2, "incomplete": True}]
    assert not agent.idle() and agent.exit_code() == sync_agent.EXIT_OFFLINE
    with photo.open("ab") as handle:  # the rest arrives
        handle.write(data[len(data) // 2 :])
    os.utime(photo, ns=(1, 2))  # a distinct mtime, whatever the file system's resolution
    passes(agent, clock, 3)
    assert sent == [data]
    assert status(agent)["settling"] == [] and agent.exit_code() == sync_agent.EXIT_OK


@pytest.mark.parametrize(
    ("content", "whole"),
    [
        (encoded(".jpg"), True),
        (encoded(".jpg") + bytes(512), True),  # zeros after the end marker, as some cameras pad
        (encoded(".jpg") + b"\xff" * 64, True),  # 0xFF fill bytes after it
        (encoded(".png"), True),
        (encoded(".png") + bytes(16), True),
        (b"GIF89a not a photo", True),  # not a JPEG or PNG: nothing to wait for, the service refuses it
        (encoded(".jpg")[:-2], False),
        (encoded(".jpg")[:-2] + bytes(512), False),  # a file written ahead of its data (preallocated)
        (encoded(".png")[:-12], False),  # all but its IEND chunk
        (b"\xff\xd8", False),  # the signature itself half written
        (b"", False),  # created, and nothing written yet
    ],
)
def test_a_settled_file_goes_only_once_it_ends_as_its_format_must(rig, content, whole):
    agent, service, clock, folder = rig
    (folder / "IMG_0002.jpg").write_bytes(content)
    passes(agent, clock, 2)
    assert service.sent == (["IMG_0002.jpg"] if whole else [])


def test_a_photo_truncated_for_good_goes_after_the_longer_bound_and_is_rejected(rig):
    agent, service, clock, folder = rig
    (folder / "IMG_0003.jpg").write_bytes(encoded(".jpg")[:-100])
    service.jobs["j_IMG_0003"] = {"state": "REJECTED", "reason": "the JPEG does not decode (truncated or damaged)"}
    passes(agent, clock, 2)
    clock.now += agent.settings.incomplete_s - 20
    agent.step()
    assert service.sent == []
    clock.now += 10
    agent.step()
    assert service.sent == ["IMG_0003.jpg"]
    [entry] = agent.journal.in_state("finished")
    assert entry.job_state == "REJECTED" and status(agent)["settling"] == []


def test_a_truncated_photo_unchanged_for_the_longer_bound_by_its_mtime_goes_after_the_settle_time(rig):
    """A run with --once, or a restart, has not watched the file for ten minutes: its mtime says how long."""
    agent, service, clock, folder = rig
    photo = folder / "IMG_0004.jpg"
    photo.write_bytes(encoded(".jpg")[:-100])
    old = time.time() - agent.settings.incomplete_s - 1
    os.utime(photo, (old, old))
    passes(agent, clock, 2)
    assert service.sent == ["IMG_0004.jpg"]


def confirm(agent: Agent, service: Service, clock: Clock, name: str) -> None:
    passes(agent, clock, 2)
    service.jobs[f"j_{Path(name).stem}"] = {"state": "RUNNING"}
    passes(agent, clock, 1)


def test_move_done_never_overwrites_even_when_the_mtime_name_is_taken_too(rig, tmp_path):
    agent, service, clock, folder = rig
    data = encoded(".jpg")
    (folder / "IMG_0005.jpg").write_bytes(data)
    mtime_ns = (folder / "IMG_0005.jpg").stat().st_mtime_ns
    done = tmp_path / "done"
    done.mkdir()
    (done / "IMG_0005.jpg").write_bytes(b"an earlier photo")
    (done / f"IMG_0005-{mtime_ns}.jpg").write_bytes(b"another earlier photo")
    confirm(agent, service, clock, "IMG_0005.jpg")
    assert (done / "IMG_0005.jpg").read_bytes() == b"an earlier photo"
    assert (done / f"IMG_0005-{mtime_ns}.jpg").read_bytes() == b"another earlier photo"
    assert (done / f"IMG_0005-{mtime_ns}-1.jpg").read_bytes() == data
    assert list(folder.glob("*.jpg")) == []


def test_a_photo_someone_else_moves_away_just_before_move_done_leaves_the_agent_running(rig, tmp_path, monkeypatch):
    agent, service, clock, folder = rig
    (folder / "IMG_0006.jpg").write_bytes(encoded(".jpg"))
    (folder / "IMG_0007.jpg").write_bytes(encoded(".png"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    real_move = shutil.move

    def another_agent_first(source: Path, target: Path) -> object:
        if Path(source).name == "IMG_0006.jpg":  # moved away between the agent's look and its move
            Path(source).rename(elsewhere / Path(source).name)
        return real_move(source, target)

    monkeypatch.setattr(shutil, "move", another_agent_first)
    confirm(agent, service, clock, "IMG_0006.jpg")
    service.jobs["j_IMG_0007"] = {"state": "SUCCEEDED"}
    passes(agent, clock, 2)
    assert (elsewhere / "IMG_0006.jpg").exists() and list(folder.glob("*.jpg")) == []
    assert sorted(p.name for p in (tmp_path / "done").iterdir()) == ["IMG_0007.jpg"]  # no empty file left behind
    doc = status(agent)
    assert (doc["confirmed"], doc["finished"], doc["pending"], doc["gone"]) == (1, 1, 0, 0)
