"""A task that reaches its node while the server is being restarted waits for it instead of failing.

Found by the chaos run: node servers SIGKILLed and brought back by their supervisor made every task that
arrived in the restart's few seconds fail at once (`connection refused`, exit 5); Batch's immediate
retries met the same dead socket, so a burst of tasks spent all their retries and their jobs FAILED
`task_failed`, although the server was back two seconds later."""

from __future__ import annotations

import errno
import socket
import threading
import time
from pathlib import Path

import pytest

from batch_tasks import protocol, task


def _serve_health_after(path: Path, ready: threading.Event, answered: threading.Event) -> None:
    """Listen on `path` only once `ready` is set, then answer one health request `ready: true`."""
    ready.wait(10)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        protocol.bind_path(server, path)
        server.listen(1)
        conn, _ = server.accept()
        with conn:
            header = conn.recv(protocol.header_size(), socket.MSG_WAITALL)
            conn.recv(protocol.frame_length(header), socket.MSG_WAITALL)
            answered.set()  # before the reply: the client returns as soon as it has it
            conn.sendall(protocol.encode({"ok": True, "ready": True}))


def test_a_server_that_comes_back_within_the_wait_is_waited_for(tmp_path: Path) -> None:
    path = tmp_path / "sitelens.sock"
    ready, answered = threading.Event(), threading.Event()
    threading.Thread(target=_serve_health_after, args=(path, ready, answered), daemon=True).start()
    timer = threading.Timer(1.0, ready.set)  # the supervisor's restart, a second after the task arrived
    timer.start()
    task._wait_ready(path, wait_s=20)
    assert answered.is_set()


def test_a_server_that_stays_down_makes_the_task_unavailable_after_the_wait(tmp_path: Path) -> None:
    with pytest.raises(task.Unavailable, match="not answering"):
        task._wait_ready(tmp_path / "nobody.sock", wait_s=0.6)


def test_the_tasks_timeout_bounds_the_wait_for_a_server_that_stays_down(tmp_path: Path, monkeypatch) -> None:
    """A short wall clock (and so a short task timeout) leaves no 30 s for readiness on top: one deadline."""
    clock = [0.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(time, "sleep", lambda s: clock.__setitem__(0, clock[0] + s))
    monkeypatch.setattr(protocol, "socket_path", lambda: tmp_path / "nobody.sock")
    with pytest.raises(task.Unavailable):
        task._via_server({"op": "job"}, timeout=5.0)
    assert clock[0] <= 5.0 + 0.5  # gave up within the task's timeout (one poll period of slack), not after 30 s


def _busy_then(monkeypatch: pytest.MonkeyPatch, answer: dict[str, object], **refusals: int) -> list[str]:
    """`protocol.call` refuses each op `refusals[op]` times as Linux refuses a connect to a Unix socket whose backlog
    is full (EAGAIN, on a socket with a timeout), then answers; returns the ops of the calls made."""
    ops: list[str] = []
    clock = [0.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(time, "sleep", lambda s: clock.__setitem__(0, clock[0] + s))

    def call(path: Path, request: dict[str, object], timeout: float) -> dict[str, object]:
        op = str(request["op"])
        ops.append(op)
        if ops.count(op) <= refusals.get(op, 0):
            raise BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable")
        return answer

    monkeypatch.setattr(protocol, "call", call)
    return ops


def test_a_server_whose_backlog_is_full_is_waited_for_not_taken_for_down(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A burst of tasks past the listen backlog: the ones refused exited 5 at once, each spending a Batch retry."""
    ops = _busy_then(monkeypatch, {"ok": True, "ready": True}, health=2)
    task._wait_ready(tmp_path / "busy.sock", wait_s=20)
    assert ops == ["health"] * 3


def test_a_job_refused_by_a_full_backlog_is_sent_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Refused at connect: nothing was sent, so the same request goes again, within the task's timeout."""
    ops = _busy_then(monkeypatch, {"ok": True, "ready": True, "outcome": "succeeded"}, job=2)
    monkeypatch.setattr(protocol, "socket_path", lambda: tmp_path / "busy.sock")
    reply = task._via_server({"op": "job"}, timeout=60)
    assert reply["outcome"] == "succeeded"
    assert ops == ["health", "job", "job", "job"]
