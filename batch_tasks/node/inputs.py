"""Which photo files the node server may read: on a Batch node, only regular files under the node's root.

The server's socket is open to every local user (tasks run as the pool's non-admin user) and, in Azure, the
server runs as root, so a request's `path` is a file root would read on that user's behalf and describe in
its reply. Batch puts every task's files (the downloaded `input.jpg` included) under
`AZ_BATCH_NODE_ROOT_DIR`, which both Batch and the start task's unit give the server; a path elsewhere is
refused with `bad_request`. Off a node (tests, benchmarks, a server started by hand) there is no root and
any path is read, as the user who started the server may read it.

The file is opened by the server and checked by the name the kernel gives the open file, and the decode
worker opens that same file through `/proc/{pid}/fd/{fd}`: a symlink anywhere on the path, or one swapped in
after the check, cannot make it read anything outside the root.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator, Mapping
from pathlib import Path

from batch_tasks.errors import NodeError

ROOT_VARIABLE = "AZ_BATCH_NODE_ROOT_DIR"


def input_root(env: Mapping[str, str]) -> Path | None:
    """The folder requests' paths must resolve into (symlinks resolved), or None off a Batch node."""
    root = env.get(ROOT_VARIABLE)
    return Path(os.path.realpath(root)) if root else None


@contextlib.contextmanager
def readable(path: str, root: Path | None) -> Iterator[str]:
    """What the decoder opens for `path`, valid until the block ends. Raises NodeError: `bad_request` for a path
    outside `root`, `input_missing` for one that cannot be opened or is not a regular file."""
    if root is None:
        yield path
        return
    outside = NodeError(f"{path} is outside the node's root {root}", code="bad_request")
    if not Path(os.path.realpath(path)).is_relative_to(root):  # refused before opening: not even whether it exists
        raise outside
    try:  # non-blocking, so a FIFO cannot stall the server's event loop
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise NodeError(f"{path}: {exc.strerror or exc}", code="input_missing") from exc
    try:
        if not Path(f"/proc/self/fd/{fd}").readlink().is_relative_to(root):  # a link swapped in meanwhile
            raise outside
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NodeError(f"{path} is not a file", code="input_missing")
        yield f"/proc/{os.getpid()}/fd/{fd}"  # the decode workers run as the server's user, so they may open it
    finally:
        os.close(fd)
