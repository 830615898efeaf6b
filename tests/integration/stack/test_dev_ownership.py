"""One `sitelens dev` per state dir, and nothing of it left running however it ends: a second one is refused
while the first runs, a hangup (a closed terminal) stops every child, after a SIGKILL the next one stops
what the killed one left and comes up on the same ports, and a stop ends the node processes of a Batch
service that died without stopping them."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulators.azurite import free_ports
from emulators.batch_service.processes import alive
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]


def dev_command(state_dir: Path, ports: list[int]) -> list[str]:
    blob, queue, table, functions, batch = (str(p) for p in ports)
    return [sys.executable, "-m", "sitelens", "dev", "--state-dir", str(state_dir), "--azurite-ports", blob, queue,
            table, "--port", functions, "--batch-port", batch]  # fmt: skip


def recorded_pids(stack_file: Path) -> dict[str, int] | None:
    """The children's pids a stack.json records; None while there is none (or it is being written)."""
    try:
        return {k: v for k, v in json.loads(stack_file.read_text())["pids"].items() if v}
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def running_dev(
    state_dir: Path, ports: list[int], stale: dict[str, int] | None = None
) -> Iterator[tuple[subprocess.Popen[str], dict[str, int]]]:
    """`sitelens dev` up (its own stack.json written, not the `stale` one an earlier run left), with the pids
    of its children; whatever the test leaves running is killed afterwards."""
    # its own process group, as a terminal's foreground job: a hangup or a kill reaches the group
    proc = subprocess.Popen(dev_command(state_dir, ports), cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)  # fmt: skip
    children: dict[str, int] = {}
    try:
        stack_file = state_dir / "stack.json"

        def up() -> bool:
            pids = recorded_pids(stack_file)
            return proc.poll() is not None or (pids is not None and pids != stale)

        wait_for(up, 90, "this dev's stack.json")
        assert proc.poll() is None, proc.communicate()[0]
        children = recorded_pids(stack_file) or {}
        yield proc, children
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        for pid in children.values():  # Azurite has a session of its own
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path.resolve()  # as dev names it


def five_ports() -> list[int]:
    return list(free_ports(5))


def test_a_second_dev_on_the_same_state_dir_is_refused_and_the_first_keeps_its_stack_json(state_dir: Path) -> None:
    ports = five_ports()
    with running_dev(state_dir, ports) as (first, _children):
        stack_file = state_dir / "stack.json"
        written = stack_file.read_text()
        second = subprocess.run(
            dev_command(state_dir, ports), check=False, cwd=REPO, capture_output=True, text=True, timeout=90
        )
        # upload, jobs and the dashboard still find the first stack
        assert stack_file.exists() and stack_file.read_text() == written, second.stdout
        assert second.returncode == 1
        assert f"another sitelens dev (pid {first.pid}) runs the stack of {state_dir}" in second.stdout
        stack = json.loads(written)
        with urllib.request.urlopen(f"{stack['functions']['api']}/health", timeout=10) as r:
            assert json.loads(r.read())["status"] == "ok"
        assert first.poll() is None
        first.send_signal(signal.SIGTERM)
        out, _ = first.communicate(timeout=120)
    assert first.returncode == 0, out
    assert not stack_file.exists()


def test_a_hangup_of_the_terminal_stops_every_child(state_dir: Path) -> None:
    with running_dev(state_dir, five_ports()) as (dev, children):
        assert set(children) == {"azurite", "functions", "batch"} and all(map(alive, children.values()))
        os.killpg(dev.pid, signal.SIGHUP)  # what a closed terminal sends its foreground job
        out, _ = dev.communicate(timeout=120)
        left = {name: pid for name, pid in children.items() if alive(pid)}
    assert not left, out
    assert "stopped" in out
    assert not (state_dir / "stack.json").exists()


def test_after_a_kill_the_next_dev_stops_what_was_left_and_comes_up_on_the_same_ports(state_dir: Path) -> None:
    ports = five_ports()
    with running_dev(state_dir, ports) as (killed, children):
        os.killpg(killed.pid, signal.SIGKILL)  # dev, the host and the Batch service; Azurite has its own session
        killed.wait(30)
        azurite = children["azurite"]
        assert alive(azurite)  # the leftover that holds the storage ports
        with running_dev(state_dir, ports, stale=children) as (dev, now):
            assert not alive(azurite)
            assert now["azurite"] != azurite
            dev.send_signal(signal.SIGTERM)
            out, _ = dev.communicate(timeout=120)
    assert dev.returncode == 0, out
    assert (
        f"sitelens dev: stopped the Azurite (pid {azurite}) an earlier sitelens dev of {state_dir} left running" in out
    )
    assert not any(alive(pid) for pid in now.values())


def test_only_leftovers_that_still_run_as_this_state_dir_are_stopped(state_dir: Path) -> None:
    from sitelens.dev_command import stop_leftovers

    sleep = [sys.executable, "-c", "import time; time.sleep(120)"]
    leftover = subprocess.Popen([*sleep, "--location", str(state_dir / "azurite")])  # as Azurite's command line
    reused = subprocess.Popen(sleep)  # a pid the recorded Batch service had, now another program's
    try:
        (state_dir / "stack.json").write_text(json.dumps({"pids": {"azurite": leftover.pid, "batch": reused.pid}}))
        stopped, unknown = stop_leftovers(state_dir)
        assert (stopped, unknown) == ([("Azurite", leftover.pid)], [])
        assert leftover.wait(10) == -signal.SIGTERM
        assert reused.poll() is None
        assert (state_dir / "stack.json").exists()  # it still names a live process: not this stack's to judge
    finally:
        for proc in (leftover, reused):
            proc.kill()
            proc.wait()


class DeadBatchService:
    """A Batch service that died without stopping its nodes (a hangup's default action, a kill)."""

    def stop(self) -> int:
        return -signal.SIGHUP


def test_a_stop_ends_the_node_processes_a_dead_batch_service_left(state_dir: Path) -> None:
    from emulators.batch_service.processes import NODE_ROOT_VARIABLE
    from sitelens.stack import Stack

    env = {**os.environ, NODE_ROOT_VARIABLE: str(state_dir / "batch" / "nodes" / "tvm-1")}
    node = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], env=env, start_new_session=True)
    try:
        stack = Stack(REPO, state_dir)
        stack.batch = DeadBatchService()  # type: ignore[assignment]
        stack.stop()
        assert node.wait(10) == -signal.SIGKILL
    finally:
        node.kill()
        node.wait()
