"""The supervisor that stands in for systemd's Restart=always on nodes without systemd (the local pool).

Found while building the chaos run, which kills node servers: one killed on the local pool stayed dead,
because the detached start task launched the server bare; every later task on that node failed
`unavailable` until Batch gave up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from batch_tasks import start
from tests.support.waiting import wait_for

CHILD = "import os, sys, time; open(sys.argv[1], 'a').write(f'{os.getpid()}\\n'); time.sleep(120)"


def _supervisor(code: str, *args: str) -> subprocess.Popen[bytes]:
    script = f"import sys; from batch_tasks.supervisor import supervise; sys.exit(supervise({code}))"
    return subprocess.Popen([sys.executable, "-c", script, *args])


def _pids(path: Path) -> list[int]:
    return [int(x) for x in path.read_text().split()] if path.exists() else []


def test_a_killed_server_is_started_again_and_sigterm_stops_both(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    command = f"[sys.executable, '-c', {CHILD!r}, {str(pids)!r}], restart_s=0.1"
    supervisor = _supervisor(command)
    try:
        first = wait_for(lambda: _pids(pids)[:1] or None, 20, "the first server")[0]
        os.kill(first, signal.SIGKILL)
        second = wait_for(lambda: _pids(pids)[1:2] or None, 20, "a restarted server")[0]
        assert second != first
        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(30) == 0
        assert not Path(f"/proc/{second}").exists() or "\nState:\tZ" in Path(f"/proc/{second}/status").read_text()
    finally:
        supervisor.kill()
        supervisor.wait(10)


def test_a_server_that_keeps_dying_at_once_makes_the_supervisor_give_up() -> None:
    command = "[sys.executable, '-c', 'raise SystemExit(3)'], restart_s=0.05, give_up_after=3"
    supervisor = _supervisor(command)
    assert supervisor.wait(60) == 1


def test_the_detached_start_launches_the_supervisor_not_the_bare_server() -> None:
    assert start.supervisor_command()[-1] == "batch_tasks.supervisor"


def test_a_server_stopped_on_purpose_is_not_started_again() -> None:
    # A server asked to stop exits 0 (or dies of SIGTERM). Restarting it would leave a server nobody owns;
    # the old loop restarted it until it gave up with 1.
    for child in ("raise SystemExit(0)", "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"):
        command = f"[sys.executable, '-c', {child!r}], restart_s=0.05, give_up_after=3"
        assert _supervisor(command).wait(30) == 0, child
