"""A loopback listener that accepts every connection and never answers: what a dropped flow or a hung front end
looks like to a client, which has sent its request and waits for an answer that never comes."""

from __future__ import annotations

import base64
import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from types import TracebackType

import pytest

from shared import composition
from shared.config import dev_storage_connection_string


class BlackHole:
    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.port: int = self._listener.getsockname()[1]
        self.accepted: list[socket.socket] = []  # held open, never read from or written to
        threading.Thread(target=self._accept, daemon=True, name="black-hole").start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:  # the listener was closed
                return
            self.accepted.append(connection)

    def __enter__(self) -> BlackHole:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept above
        self._listener.close()
        for connection in self.accepted:
            connection.close()


def outcomes(calls: dict[str, Callable[[], object]], deadline_s: float) -> dict[str, str]:
    """Runs each call in a thread of its own, all at once; what each raised (its type's name), "returned", or
    "still running" for one that had not ended when the deadline passed."""
    ended: dict[str, str] = {}

    def run(name: str, call: Callable[[], object]) -> None:
        try:
            call()
            ended[name] = "returned"
        except Exception as exc:  # noqa: BLE001 (the type is the outcome)
            ended[name] = type(exc).__name__

    threads = {name: threading.Thread(target=run, args=(name, call), daemon=True) for name, call in calls.items()}
    deadline = time.monotonic() + deadline_s
    for thread in threads.values():
        thread.start()
    for thread in threads.values():
        thread.join(max(0.0, deadline - time.monotonic()))
    return {name: ended.get(name, "still running") for name in calls}


@contextlib.contextmanager
def app_at(hole: BlackHole, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The app's composition root (shared/composition.py) with every storage endpoint and the Batch account at the
    black hole: the services it builds once per process are forgotten before and after."""
    monkeypatch.setenv("AzureWebJobsStorage", dev_storage_connection_string(ports=(hole.port,) * 3))
    monkeypatch.setenv("SITELENS_BATCH_URL", hole.url)
    monkeypatch.setenv("SITELENS_BATCH_ACCOUNT", "sitelens")
    monkeypatch.setenv("SITELENS_BATCH_KEY", base64.b64encode(b"k" * 32).decode())
    _forget_built()
    try:
        yield
    finally:
        _forget_built()


def _forget_built() -> None:
    for built in vars(composition).values():
        if callable(getattr(built, "cache_clear", None)):
            built.cache_clear()
