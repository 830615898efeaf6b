"""A task deletes its input once it has succeeded, and only then, and only inside its working directory.

Batch keeps a task's folder on the node's temporary disk for a day after the task ends: inputs kept that long
(about 2 MB a photo, 2 photos/s a node) fill the disk within the day. A task that exits non-zero may be
retried, and the retry reads the same input, so it must stay.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.integration.node.conftest import Node, completion_messages
from tests.integration.ocr import photos

WORKING_DIR = "AZ_BATCH_TASK_WORKING_DIR"


def _job_id() -> str:
    return "j_" + uuid.uuid4().hex[:26]


def _photo(path: Path, text: str = "PUMP P-12") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = photos.paper(480, 960, seed=5)
    photos.write(image, text, (80, 240), 2.0, 4)
    path.write_bytes(photos.jpeg(image))
    return path


def _task_folder(tmp_path: Path) -> tuple[Path, Path]:
    """A task's folder as Batch lays it out: stdout.txt and stderr.txt beside `wd`, the input in `wd`."""
    folder = tmp_path / "workitems" / "job" / "job-1" / "task"
    (folder / "wd").mkdir(parents=True)
    for name in ("stdout.txt", "stderr.txt"):
        (folder / name).write_text("the task's output\n")
    return folder, folder / "wd"


def test_a_task_that_succeeds_deletes_its_input_and_nothing_else(node: Node, storage: str, tmp_path: Path) -> None:
    folder, wd = _task_folder(tmp_path)
    photo = _photo(wd / "input.jpg")
    other = wd / "other.bin"
    other.write_bytes(b"another file of the task's")
    job = _job_id()
    done = node.task(job, str(photo), env={WORKING_DIR: str(wd)})
    assert done.returncode == 0, done.stderr
    [message] = completion_messages(storage, job)
    assert message["outcome"] == "succeeded"
    assert not photo.exists()
    assert other.exists() and wd.is_dir()
    assert (folder / "stdout.txt").exists() and (folder / "stderr.txt").exists()


def test_a_task_run_outside_batch_keeps_its_input(node: Node, tmp_path: Path) -> None:
    """`input.jpg`, relative, in the directory the task starts in (the node fixture's tasks start in the folder
    above its shared one), with no working directory variable: run by hand or by a benchmark, not by Batch."""
    photo = _photo(node.shared.parent / "input.jpg")
    done = node.task(_job_id())
    assert done.returncode == 0, done.stderr
    assert photo.exists()


def test_a_task_that_fails_keeps_its_input_for_a_retry(node: Node, tmp_path: Path) -> None:
    _, wd = _task_folder(tmp_path)
    env = {WORKING_DIR: str(wd)}
    bad = wd / "bad.jpg"
    bad.write_bytes(b"GIF89a not a photo")
    assert node.task(_job_id(), str(bad), env=env).returncode == 3
    assert bad.exists()

    photo = _photo(wd / "input.jpg")
    unknown_model = node.task(_job_id(), str(photo), env={**env, "SITELENS_MODEL": "ocr/v0"})
    assert unknown_model.returncode == 2, unknown_model.stderr
    assert photo.exists()

    no_server = {**env, "AZ_BATCH_NODE_SHARED_DIR": str(tmp_path / "no-server")}
    unavailable = node.task(_job_id(), str(photo), "--timeout", "1", env=no_server)
    assert unavailable.returncode == 5, unavailable.stderr
    assert photo.exists()


@pytest.mark.parametrize("how", ["elsewhere", "dot-dot", "symlink"])
def test_a_photo_that_resolves_outside_the_working_directory_is_left_alone(
    node: Node, tmp_path: Path, how: str
) -> None:
    _, wd = _task_folder(tmp_path)
    outside = _photo(tmp_path / "elsewhere" / "photo.jpg")
    named = {
        "elsewhere": outside,
        "dot-dot": wd / ".." / ".." / ".." / ".." / ".." / "elsewhere" / "photo.jpg",
        "symlink": wd / "input.jpg",
    }[how]
    if how == "symlink":
        named.symlink_to(outside)
    assert named.resolve() == outside.resolve()
    done = node.task(_job_id(), str(named), env={WORKING_DIR: str(wd)})
    assert done.returncode == 0, done.stderr
    assert outside.read_bytes()[:2] == b"\xff\xd8"
