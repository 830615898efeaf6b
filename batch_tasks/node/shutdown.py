"""How the node server stops: asked to (SIGTERM, as systemd's stop or restart of the unit sends it, or SIGINT), or
because its watchdog found the accelerator failing every run (`batch_tasks.node.watchdog`).

Either way it stops taking connections (the socket goes, so a task arriving now waits for the restarted server as
for one that is down), refuses new requests on the connections it has, and lets the requests in flight finish:
each is a task whose job would otherwise be cut off mid-write and cost it a Batch retry. The wait is bounded by
`DRAIN_S`; what still runs then is cut off, as before. Standard library only: the start task reads `DRAIN_S`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

# A job is a photo's decode and run (a second or two on a GPU, a batch's wait) and two storage calls, each bounded
# by the storage client's 30 s timeout; a minute covers them, and stays under the 90 s systemd waits for a stopped
# unit before it kills it (the unit's TimeoutStopSec, which the start task writes from this).
DRAIN_S = 60.0
# The server's exit when its watchdog stopped it: not 0, so systemd (`Restart=always`) and the supervisor start it
# again, which the supervisor would not for an exit 0 (a stop someone asked for).
EXIT_FAILING = 3


class Shutdown:
    """The server's stop: whether and why it was asked for, the exit it calls for, and the requests in flight."""

    def __init__(self) -> None:
        self.requested = asyncio.Event()
        self.reason: str | None = None
        self.exit_code = 0
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def request(self, reason: str, exit_code: int = 0) -> None:
        """Ask the server to stop; the first reason (and its exit) stands."""
        if not self.requested.is_set():
            self.reason, self.exit_code = reason, exit_code
            self.requested.set()

    @contextlib.contextmanager
    def in_flight(self) -> Iterator[None]:
        """Around a request, from its arrival until its reply is written."""
        self._in_flight += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()

    async def drained(self, timeout: float = DRAIN_S) -> int:
        """Wait until no request is in flight, at most `timeout` seconds; returns how many still are."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)
        return self._in_flight
