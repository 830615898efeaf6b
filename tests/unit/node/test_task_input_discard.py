"""Deleting a succeeded task's input never fails the task: the job is done, and a non-zero exit would have
Batch run it again for nothing. What cannot be deleted is said on stderr and left."""

from __future__ import annotations

from pathlib import Path

import pytest

from batch_tasks import task


def test_an_input_that_cannot_be_deleted_is_reported_and_left(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv(task.WORKING_DIR_VARIABLE, str(tmp_path))
    folder = tmp_path / "input.jpg"
    folder.mkdir()  # unlink refuses a directory
    task._discard_input("j_x", str(folder))
    assert folder.is_dir()
    assert "j_x: input" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["absent.jpg", "loop.jpg"])
def test_an_input_already_gone_or_unresolvable_is_no_error(tmp_path: Path, monkeypatch, name: str) -> None:
    monkeypatch.setenv(task.WORKING_DIR_VARIABLE, str(tmp_path))
    (tmp_path / "loop.jpg").symlink_to(tmp_path / "loop.jpg")
    task._discard_input("j_x", str(tmp_path / name))  # returns, as the task then exits 0


def test_outside_batch_nothing_is_deleted(tmp_path: Path, monkeypatch) -> None:
    """No working directory named (a task run by hand, a benchmark reusing its photos): the photo stays."""
    monkeypatch.delenv(task.WORKING_DIR_VARIABLE, raising=False)
    monkeypatch.chdir(tmp_path)
    photo = tmp_path / "input.jpg"
    photo.write_bytes(b"jpeg")
    task._discard_input("j_x", "input.jpg")
    assert photo.exists()
