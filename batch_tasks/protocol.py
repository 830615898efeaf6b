"""The node server's wire protocol: length-prefixed JSON over a Unix socket. Standard library only.

A frame is a 4-byte big-endian length followed by that many bytes of UTF-8 JSON (one object). A client
sends one request frame and reads one reply frame per exchange; a connection may carry several exchanges.
Requests carry node-local file paths, never pixels: a decoded 12 MP photo is 36 MB, its path a few bytes.

Replies are `{"ok": true, ...}` or `{"ok": false, "error": {"code": ..., "message": ..., "retryable": ...}}`,
where `code` is one of `batch_tasks.errors.CODES` and `retryable` its `transient` flag.

The socket lives in `AZ_BATCH_NODE_SHARED_DIR`, which every task on the node can reach. Unix socket paths
are limited to about 108 bytes; a longer path is reached through its folder (see `connect`).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SOCKET_NAME = "sitelens.sock"
MAX_FRAME = 4 << 20  # replies hold text lines and polygons; 4 MiB is far above any real photo's result
_HEADER = struct.Struct(">I")
_MAX_UNIX_PATH = 100  # sun_path is 108 bytes on Linux (104 on macOS), with a terminating NUL


class ProtocolError(Exception):
    """The peer sent something that is not a frame of this protocol."""


def socket_path(shared_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where the node's server listens: `$AZ_BATCH_NODE_SHARED_DIR/sitelens.sock` (or `SITELENS_SOCKET`)."""
    explicit = os.environ.get("SITELENS_SOCKET")
    if explicit and shared_dir is None:
        return Path(explicit)
    folder = shared_dir or os.environ.get("AZ_BATCH_NODE_SHARED_DIR")
    if not folder:
        raise ProtocolError("AZ_BATCH_NODE_SHARED_DIR is not set: not on a Batch node (or set SITELENS_SOCKET)")
    return Path(folder) / SOCKET_NAME


def encode(message: dict[str, Any]) -> bytes:
    body = json.dumps(message, separators=(",", ":")).encode()
    if len(body) > MAX_FRAME:
        raise ProtocolError(f"frame of {len(body)} bytes is over {MAX_FRAME}")
    return _HEADER.pack(len(body)) + body


def decode_body(body: bytes) -> dict[str, Any]:
    try:
        message = json.loads(body)
    except ValueError as exc:
        raise ProtocolError(f"frame is not JSON: {exc}") from exc
    if not isinstance(message, dict):
        raise ProtocolError("frame is not a JSON object")
    return message


def frame_length(header: bytes) -> int:
    (length,) = _HEADER.unpack(header)
    if length > MAX_FRAME:
        raise ProtocolError(f"frame of {length} bytes is over {MAX_FRAME}")
    return int(length)


def header_size() -> int:
    return _HEADER.size


@contextlib.contextmanager
def _in_folder(folder: Path) -> Iterator[None]:
    before = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


def bind_path(sock: socket.socket, path: Path) -> None:
    """Bind `sock` to `path`, through its folder when the absolute path is too long for sun_path."""
    if len(os.fsencode(path)) <= _MAX_UNIX_PATH:
        sock.bind(str(path))
        return
    with _in_folder(path.parent):
        sock.bind(path.name)


def connect(path: Path, timeout: float) -> socket.socket:
    """A connected client socket with `timeout` on every operation.

    Raises:
        OSError: nothing listens there (FileNotFoundError, ConnectionRefusedError) or it timed out.
    """
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        if len(os.fsencode(path)) <= _MAX_UNIX_PATH:
            sock.connect(str(path))
        else:
            with _in_folder(path.parent):  # single-threaded task clients only: chdir is process-wide
                sock.connect(path.name)
    except BaseException:
        sock.close()
        raise
    return sock


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    chunks: list[bytes] = []
    remaining = n
    while remaining:
        chunk = sock.recv(min(remaining, 1 << 16))
        if not chunk:
            raise ProtocolError("the server closed the connection mid-reply")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def exchange(sock: socket.socket, request: dict[str, Any]) -> dict[str, Any]:
    """Send one request and read its reply on a connected socket (blocking, with the socket's timeout)."""
    sock.sendall(encode(request))
    length = frame_length(_recv_exactly(sock, header_size()))
    return decode_body(_recv_exactly(sock, length))


def call(path: Path, request: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Connect, exchange once, close."""
    with connect(path, timeout) as sock:
        return exchange(sock, request)
