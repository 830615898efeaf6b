"""A loopback relay whose answers trickle: each slice of what the server sends is passed on after a pause, so a
transfer takes far longer than any one wait for its next bytes. Requests pass at full speed."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from types import TracebackType


class SlowLink:
    def __init__(self, target_port: int, slice_bytes: int = 512 * 1024, pause_s: float = 0.25) -> None:
        self._target, self._slice, self._pause_s = target_port, slice_bytes, pause_s
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True, name="slow-link").start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:  # the listener was closed
                return
            server = socket.create_connection(("127.0.0.1", self._target))
            threading.Thread(target=self._pump, args=(client, server, 0.0), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, self._pause_s), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, pause_s: float) -> None:
        with contextlib.suppress(OSError):  # either side closed
            while data := source.recv(self._slice):
                sink.sendall(data)
                time.sleep(pause_s)  # the link's pace, not a wait for anything
        for end in (source, sink):  # the other direction's pump, blocked on its read, ends with it
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()

    def __enter__(self) -> SlowLink:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
