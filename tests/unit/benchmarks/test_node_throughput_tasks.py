"""`benchmarks.node_throughput._run_tasks`: a run in which a task failed gives no photos/s, it raises.

The task processes are replaced by a fake `subprocess.run` that answers each photo with a chosen exit code.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from benchmarks import node_throughput


def fake_tasks(monkeypatch: pytest.MonkeyPatch, exit_codes: dict[str, int]) -> list[list[str]]:
    """Every task process exits with the code its photo's name is given; returns the command lines run."""
    commands: list[list[str]] = []

    def run(command: list[str], **_: Any) -> subprocess.CompletedProcess[bytes]:
        commands.append(command)
        code = exit_codes[Path(command[4]).name]
        return subprocess.CompletedProcess(command, code, b"", b"photo unreadable" if code else b"")

    monkeypatch.setattr(subprocess, "run", run)  # what the benchmark calls
    return commands


def test_a_failed_task_stops_the_run_with_its_exit_code_and_error(monkeypatch):
    fake_tasks(monkeypatch, {"a.jpg": 0, "b.jpg": 3, "c.jpg": 0})
    paths = [Path("a.jpg"), Path("b.jpg"), Path("c.jpg")]
    with pytest.raises(RuntimeError, match=r"1 of 3 tasks failed, exit codes \[0, 3\]: photo unreadable"):
        node_throughput._run_tasks(paths, {}, 2, ["--in-process"])


def test_every_task_succeeding_gives_a_rate_and_the_codes(monkeypatch):
    commands = fake_tasks(monkeypatch, {"a.jpg": 0, "b.jpg": 0})
    rate, codes = node_throughput._run_tasks([Path("a.jpg"), Path("b.jpg")], {}, 2, ["--in-process"])
    assert codes == [0, 0] and rate > 0
    assert sorted(c[4] for c in commands) == ["a.jpg", "b.jpg"]
    assert all(c[1:3] == ["-m", "batch_tasks.task"] and c[-1] == "--in-process" for c in commands)
