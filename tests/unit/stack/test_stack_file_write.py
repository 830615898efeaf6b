"""stack.json holds keys and other tools read it as soon as it exists: it appears whole and private in one
rename, never as a partial file nor with wider rights for a moment, whatever the umask."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from emulators.azurite import Azurite
from emulators.storage_account import AzuriteEndpoints
from sitelens.stack import Stack

REPO = Path(__file__).resolve().parents[3]
PREVIOUS = {"pids": {"azurite": 1}}  # the file a previous run of this folder left


@pytest.fixture
def stack(tmp_path: Path) -> Stack:
    """A stack whose Azurite 'runs' (the file names only its endpoints and pid), over an older stack.json."""
    (tmp_path / "stack.json").write_text(json.dumps(PREVIOUS))
    (tmp_path / "stack.json").chmod(0o644)
    endpoints = AzuriteEndpoints()
    azurite = SimpleNamespace(endpoints=endpoints, connection_string=endpoints.connection_string, pid=4242)
    keys = {"master": "master-key", "host": {"default": "host-key"}}
    return Stack(REPO, tmp_path, azurite=cast("Azurite", azurite), keys=keys)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """A umask that takes no right away: only the mode the file is created with keeps it private."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def spy_on_renames(monkeypatch: pytest.MonkeyPatch, seen: Callable[[Path, Path], None]) -> None:
    real = os.replace

    def replace(source: Any, target: Any, **kwargs: Any) -> None:
        seen(Path(source), Path(target))
        real(source, target, **kwargs)

    monkeypatch.setattr(os, "replace", replace)


def test_stack_json_appears_whole_and_private_in_one_rename(stack: Stack, open_umask, monkeypatch):
    renames: list[dict[str, Any]] = []

    def seen(source: Path, target: Path) -> None:
        renames.append({
            "folder": source.parent, "target": target, "mode": source.stat().st_mode & 0o777,
            "source": json.loads(source.read_text()), "target_before": json.loads(target.read_text()),
        })  # fmt: skip

    spy_on_renames(monkeypatch, seen)
    stack._write_stack_file()
    assert len(renames) == 1, "stack.json was not renamed into place from a file written aside"
    [rename] = renames
    written = json.loads(stack.stack_file.read_text())
    assert rename["folder"] == stack.state_dir and rename["target"] == stack.stack_file  # a rename within the folder
    assert rename["mode"] == 0o600  # private before it has the name other tools look for
    assert rename["source"] == written and written["pids"]["azurite"] == 4242  # whole before it has that name
    assert rename["target_before"] == PREVIOUS  # the old file was never written in place
    assert stack.stack_file.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in stack.state_dir.iterdir()) == ["stack.json"]  # no temporary file left


def test_a_failed_write_leaves_the_previous_file_and_no_temporary_one(stack: Stack, monkeypatch):
    def refuse(source: Path, target: Path) -> None:
        raise OSError("disk full")

    spy_on_renames(monkeypatch, refuse)
    with pytest.raises(OSError, match="disk full"):
        stack._write_stack_file()
    assert json.loads(stack.stack_file.read_text()) == PREVIOUS
    assert sorted(p.name for p in stack.state_dir.iterdir()) == ["stack.json"]
    assert not stack.wrote_stack_file  # so a stop does not remove the file this stack did not write
