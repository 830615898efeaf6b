"""The node server's life as a process: its Unix socket and pid file, the warm-up, and the stop.

It listens at once (health answers while the models warm), with the largest backlog the kernel allows, and serves
until `batch_tasks.node.shutdown` asks it to stop: then it takes no new connections, lets the requests in flight
finish (within `DRAIN_S`), stops the batchers and decode workers, and returns the exit the stop called for.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket as sockets
from typing import TYPE_CHECKING

from batch_tasks import protocol

if TYPE_CHECKING:
    from batch_tasks.node.server import NodeServer
    from batch_tasks.node.settings import NodeSettings

log = logging.getLogger("batch_tasks.server")


async def listen(server: NodeServer, settings: NodeSettings) -> int:
    """Serve `server` on `settings.socket` until it is asked to stop; returns the process's exit code."""
    settings.socket.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        settings.socket.unlink()  # a stale socket of a dead server; the start task checked none is alive
    listener = sockets.socket(sockets.AF_UNIX, sockets.SOCK_STREAM)
    protocol.bind_path(listener, settings.socket)
    settings.socket.chmod(0o666)
    # A node runs up to 256 task slots and a burst of tasks connects at once: with asyncio's default backlog (100),
    # the kernel refused the connections past it (EAGAIN) while the event loop was busy.
    unix = await asyncio.start_unix_server(server.handle, sock=listener, limit=protocol.MAX_FRAME,
                                           backlog=sockets.SOMAXCONN)  # fmt: skip
    settings.pid_file.write_text(str(os.getpid()))
    stop = server.shutdown.requested
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, server.shutdown.request, sig.name)
    log.info("listening on %s (pid %d)", settings.socket, os.getpid())
    warming = asyncio.create_task(server.warm())
    try:
        done, _ = await asyncio.wait([warming, asyncio.create_task(stop.wait())], return_when=asyncio.FIRST_COMPLETED)
        if warming in done and warming.exception() is not None:
            raise warming.exception()  # type: ignore[misc]
        await stop.wait()
        log.info("stopping: %s", server.shutdown.reason)
        _close(unix, settings)  # no new connections: a task that comes now waits for the next server
        if server.ready.is_set():  # before it, requests only wait for the warm-up: nothing of theirs has run
            left = await server.shutdown.drained()
            if left:
                log.warning("%d requests still running after the stop's wait; they are cut off", left)
    finally:
        _close(unix, settings)
        for loaded in server.registry.peek():
            loaded.batcher.stop()
        server.pool.shutdown()
        with contextlib.suppress(FileNotFoundError):
            settings.pid_file.unlink()
    return server.shutdown.exit_code


def _close(unix: asyncio.AbstractServer, settings: NodeSettings) -> None:
    """Stop taking connections and remove the socket; once only, so a server started after this one's stop keeps
    its own socket at the same path."""
    if unix.is_serving():
        unix.close()
        with contextlib.suppress(FileNotFoundError):
            settings.socket.unlink()
