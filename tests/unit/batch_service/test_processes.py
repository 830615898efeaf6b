"""Node processes: found by their node root, killed with their node; command lines that cannot start."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from emulators.batch_service.processes import NODE_ROOT_VARIABLE, LaunchError, alive, kill_under, launch
from tests.support.waiting import wait_for

pytestmark = pytest.mark.skipif(not Path("/proc").is_dir(), reason="finding processes by environment needs /proc")


def test_a_nodes_processes_and_their_daemons_die_with_it(tmp_path):
    node = tmp_path / "nodes" / "pool" / "node1"
    other = tmp_path / "nodes" / "pool" / "node10"  # a sibling whose name starts the same
    env = {**os.environ, NODE_ROOT_VARIABLE: str(node)}
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    mine = subprocess.Popen(sleeper, env=env, start_new_session=True)
    spared = subprocess.Popen(sleeper, env={**os.environ, NODE_ROOT_VARIABLE: str(other)})
    try:
        wait_for(lambda: kill_under(node) == 1, 10, "the node's process to be found")
        mine.wait(10)
        assert not alive(mine.pid) and alive(spared.pid)
    finally:
        for p in (mine, spared):
            p.kill()
            p.wait()


def test_a_missing_program_or_an_unparsable_command_line_cannot_launch(tmp_path):
    async def try_launch(command_line: str) -> str:
        with (tmp_path / "out").open("wb") as out:
            try:
                await launch(command_line, tmp_path, dict(os.environ), out, out)
            except LaunchError as exc:
                return exc.code
        return "launched"

    assert asyncio.run(try_launch("/no/such/program")) == "CommandProgramNotFound"
    assert asyncio.run(try_launch("python 'unterminated")) == "CommandLaunchFailed"
