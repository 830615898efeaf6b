"""The node server's supervisor where there is no systemd (the local Batch service): restart on exit.

`python -m batch_tasks.supervisor` runs the node server as its child and starts it again `RESTART_S`
after it exits, whatever the cause (a crash, an OOM kill, SIGKILL), as the systemd unit's
`Restart=always` / `RestartSec=2` does in Azure. A server that dies within `QUICK_EXIT_S` of its start
`GIVE_UP_AFTER` times in a row is broken rather than unlucky: the supervisor then exits 1 (systemd's start
limit), so the start task, which watches the supervisor's pid, reports the node as failed instead of
waiting for a server that will never be ready. SIGTERM stops the server and then the supervisor.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from types import FrameType

from batch_tasks.node.shutdown import DRAIN_S

RESTART_S = 2.0
QUICK_EXIT_S = 10.0
GIVE_UP_AFTER = 5


class _Stop(Exception):
    pass


def _stop(_signum: int, _frame: FrameType | None) -> None:
    raise _Stop


def supervise(command: Sequence[str], *, restart_s: float = RESTART_S, quick_exit_s: float = QUICK_EXIT_S,
              give_up_after: int = GIVE_UP_AFTER) -> int:  # fmt: skip
    """Run `command` again each time it exits; returns 1 once it failed quickly `give_up_after` times running,
    0 when stopped by SIGTERM, or when the server was stopped on purpose (it exited 0, or by SIGTERM)."""
    signal.signal(signal.SIGTERM, _stop)
    quick_exits = 0
    child: subprocess.Popen[bytes] | None = None
    try:
        while quick_exits < give_up_after:
            started = time.monotonic()
            child = subprocess.Popen(list(command), stdin=subprocess.DEVNULL)
            code = child.wait()
            if code in (0, -signal.SIGTERM):
                # The server exits 0 only when asked to stop (SIGTERM/SIGINT to it, not to us): whoever stopped
                # it meant it, so restarting would leak a server nobody owns any more.
                print(f"supervisor: the server was stopped ({code}); stopping too", file=sys.stderr, flush=True)
                return 0
            quick_exits = quick_exits + 1 if time.monotonic() - started < quick_exit_s else 0
            print(f"supervisor: the server exited ({code}); restarting in {restart_s:g} s", file=sys.stderr, flush=True)
            time.sleep(restart_s)  # systemd's RestartSec: a crash loop does not spin the CPU
    except _Stop:
        if child is not None and child.poll() is None:
            child.terminate()
            try:
                child.wait(DRAIN_S + 15)  # it lets the jobs in flight finish first
            except subprocess.TimeoutExpired:
                child.kill()  # as systemd does past TimeoutStopSec
                child.wait()
        return 0
    print(f"supervisor: the server failed {give_up_after} times within {quick_exit_s:g} s; giving up",
          file=sys.stderr, flush=True)  # fmt: skip
    return 1


def main() -> int:
    from batch_tasks.start import server_command  # noqa: PLC0415 (only the command line, when run)

    return supervise(server_command())


if __name__ == "__main__":
    sys.exit(main())
