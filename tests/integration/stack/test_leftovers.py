"""What a stack killed outright left running is found in /proc by the marks its launchers gave each process,
with no `stack.json` (a `sitelens dev` killed while it starts has written none), and stopped; nothing that
merely names a similar folder, and nothing of another user, is ever stopped. A `sitelens dev` interrupted while
it starts says so, and leaves nothing running."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulators.azurite import free_ports
from emulators.batch_service.processes import NODE_ROOT_VARIABLE, alive
from sitelens.dev_command import stop_leftovers
from tests.support.leftovers import StandIns, kill_naming, naming, stand_ins
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path.resolve()  # as dev names it
    kill_naming(tmp_path.resolve())


def stack_stand_ins(started: StandIns, state: Path) -> dict[str, int]:
    """One stand-in for each kind of process a stack of `state` runs, by the name stop_leftovers gives it."""
    telemetry = {"SITELENS_TELEMETRY_DIR": str(state / "telemetry")}
    return {
        "Functions host": started.start("functions", "start", env=telemetry).pid,
        "Batch service": started.start("--data", str(state / "batch")).pid,
        "node process": started.start(env={NODE_ROOT_VARIABLE: str(state / "batch" / "sitelens-gpu" / "tvm-1")}).pid,
        "Azurite": started.start("--location", str(state / "azurite")).pid,
    }  # fmt: skip


def test_a_killed_stacks_processes_are_found_and_stopped_without_its_stack_json(state_dir: Path) -> None:
    with stand_ins() as started:
        ours = stack_stand_ins(started, state_dir)
        wait_for(lambda: set(naming(state_dir)) == set(ours.values()), 10, "the stand-ins in /proc")
        stopped, unknown = stop_leftovers(state_dir)
        assert not (state_dir / "stack.json").exists()
        assert unknown == []
        assert stopped == list(ours.items())  # in a stack's stopping order: the host first, Azurite last
        assert not any(map(alive, ours.values()))


def test_a_process_that_merely_names_a_similar_folder_is_left_alone(state_dir: Path) -> None:
    other = state_dir / "other"
    with stand_ins() as started:
        bystanders = [
            started.start(str(state_dir / "azurite")),  # names the folder, not as Azurite's --location
            started.start("--location", str(state_dir / "azurite2")),
            started.start("--data", str(state_dir / "batch" / "x")),
            started.start(env={"SITELENS_TELEMETRY_DIR": str(state_dir / "telemetry")}),  # not a Functions host
            started.start("functions", "start", env={"SITELENS_TELEMETRY_DIR": str(state_dir / "telemetry2")}),
            started.start(env={NODE_ROOT_VARIABLE: str(state_dir / "batch2" / "tvm-1")}),
        ]
        of_another_state_dir = stack_stand_ins(started, other)
        azurite = started.start("--location", str(state_dir / "azurite"))
        wait_for(lambda: azurite.pid in naming(state_dir / "azurite"), 10, "the stand-ins in /proc")
        assert stop_leftovers(state_dir) == ([("Azurite", azurite.pid)], [])
        assert all(proc.poll() is None for proc in bystanders)
        assert all(map(alive, of_another_state_dir.values()))


def test_another_users_processes_are_never_stopped(state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with stand_ins() as started:
        ours = stack_stand_ins(started, state_dir)
        wait_for(lambda: set(naming(state_dir)) == set(ours.values()), 10, "the stand-ins in /proc")
        pids = {"functions": ours["Functions host"], "batch": ours["Batch service"], "azurite": ours["Azurite"]}
        (state_dir / "stack.json").write_text(json.dumps({"pids": pids}))  # not a reason either
        uid = os.getuid()
        monkeypatch.setattr(os, "getuid", lambda: uid + 1)  # as another user sees them
        assert stop_leftovers(state_dir) == ([], [])
        assert all(map(alive, ours.values()))


def dev(state_dir: Path) -> subprocess.Popen[str]:
    """`sitelens dev` in a process group of its own, as a terminal's foreground job."""
    blob, queue, table, functions, batch = (str(p) for p in free_ports(5))
    cmd = [sys.executable, "-m", "sitelens", "dev", "--state-dir", str(state_dir), "--azurite-ports", blob, queue,
           table, "--port", functions, "--batch-port", batch]  # fmt: skip
    return subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)  # fmt: skip


def test_what_a_dev_killed_while_it_starts_left_is_stopped(state_dir: Path) -> None:
    killed = dev(state_dir)
    try:
        wait_for(lambda: naming(state_dir / "batch") or killed.poll() is not None, 60, "the Batch service's start")
        os.kill(killed.pid, signal.SIGKILL)  # the leader alone, as the OOM killer or a CI timeout does
        killed.wait(10)
        azurite, batch = naming(state_dir / "azurite"), naming(state_dir / "batch")
        assert azurite and batch, killed.communicate()[0]
        assert not (state_dir / "stack.json").exists()  # written only once every child is ready
        stopped, _ = stop_leftovers(state_dir)
        assert {("Azurite", pid) for pid in azurite} | {("Batch service", pid) for pid in batch} <= set(stopped)
        assert naming(state_dir) == []
    finally:
        if killed.poll() is None:
            killed.kill()
        killed.communicate()


def test_a_dev_interrupted_while_it_starts_says_so_and_leaves_nothing_running(state_dir: Path) -> None:
    interrupted = dev(state_dir)
    try:
        wait_for(lambda: naming(state_dir / "batch") or interrupted.poll() is not None, 60, "the Batch service's start")
        os.killpg(interrupted.pid, signal.SIGINT)  # Ctrl-C: the whole foreground group, children included
        out, _ = interrupted.communicate(timeout=120)
    finally:
        if interrupted.poll() is None:
            interrupted.kill()
            interrupted.communicate()
    assert interrupted.returncode == 130, out
    assert "sitelens dev: interrupted; stopped" in out
    assert "Traceback" not in out and "exited with code" not in out
    assert naming(state_dir) == []
