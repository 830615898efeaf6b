"""How a real node server stops, and what it takes before it does: a device that fails every run gets the server
started again, a model's own failing runs never do; a stop lets the requests in flight finish; a burst of
connections waits in the listen backlog.

The server runs with its models' runs rigged through control files (`rigged_server`), on the CPU, no storage:
`read` requests need none."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from batch_tasks import protocol
from batch_tasks.node.shutdown import EXIT_FAILING
from batch_tasks.node.watchdog import FAILED_RUNS_TO_RESTART
from batch_tasks.ocr.opencv import cv2
from batch_tasks.start import alive
from tests.integration.node.conftest import REPO, node_env
from tests.support.onnx_models import classify_graph, classify_manifest, write_classify_model, write_folder
from tests.support.waiting import wait_for

MODEL = "colours/1.0.0"
# A bring-your-own classifier whose graph reads one image at a time (`x.view(1, -1)`): alone a photo reads, photos
# that arrive together and run as one batch fail with the graph's own Reshape error.
ONE_AT_A_TIME = "single/1.0.0"
RIGGED = [sys.executable, "-m", "tests.integration.node.rigged_server"]


class Rigged:
    """A node's folders, and the rigged server (or its supervisor) running there."""

    def __init__(self, root: Path) -> None:
        self.control, self.shared, models = root / "control", root / "shared", root / "models"
        self.control.mkdir()
        write_classify_model(models / "colours" / "1.0.0")
        write_folder(models / "single" / "1.0.0", classify_graph(3, one_at_a_time=True), classify_manifest("single"))
        warm = f"{MODEL},{ONE_AT_A_TIME}"
        self.env = node_env(self.shared, SITELENS_MODELS_DIR=str(models), SITELENS_WARM_MODELS=warm)
        self.photo = root / "green.jpg"
        assert cv2.imwrite(str(self.photo), np.full((32, 32, 3), (0, 255, 0), np.uint8))
        self.log = root / "server.log"
        self.process: subprocess.Popen[bytes] | None = None

    def run(self, command: list[str]) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, env=self.env, cwd=REPO, stdout=log, stderr=log)
        return self.process

    def health(self) -> dict[str, Any] | None:
        try:
            return protocol.call(self.shared / protocol.SOCKET_NAME, {"op": "health"}, 5)
        except (OSError, protocol.ProtocolError):
            return None

    def ready(self) -> dict[str, Any]:
        return wait_for(lambda: (h := self.health()) and h["ready"] and h, 120, f"the server to be ready ({self.log})")

    def read(self, model: str = MODEL, timeout: float = 60) -> dict[str, Any]:
        request = {"op": "read", "model": model, "path": str(self.photo)}
        return protocol.call(self.shared / protocol.SOCKET_NAME, request, timeout)


@pytest.fixture
def rigged(tmp_path: Path) -> Iterator[Rigged]:
    node = Rigged(tmp_path)
    try:
        yield node
    finally:
        (node.control / "hold").unlink(missing_ok=True)
        if node.process is not None and node.process.poll() is None:
            node.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                node.process.wait(90)
            node.process.kill()
            node.process.wait()


def test_a_device_failing_every_run_gets_the_server_started_again(rigged: Rigged) -> None:
    """The supervisor stands in for systemd's `Restart=always`: a non-zero exit is started again."""
    supervise = (
        f"import sys; from batch_tasks.supervisor import supervise; sys.exit(supervise({RIGGED!r} + sys.argv[1:]))"
    )
    rigged.run([sys.executable, "-c", supervise, str(rigged.control)])
    first = rigged.ready()["pid"]
    assert rigged.read()["ok"] is True  # the model reads: its device worked

    (rigged.control / "poisoned").touch()
    for _ in range(FAILED_RUNS_TO_RESTART):
        failed = rigged.read()
        assert (failed["ok"], failed["error"]["code"]) == (False, "inference_failed"), failed
    wait_for(lambda: not alive(first), 90, "the failing server to exit")
    (rigged.control / "poisoned").unlink()  # the new process's context is a fresh one

    again = wait_for(lambda: (h := rigged.health()) and h["ready"] and h["pid"] != first and h, 120, "a new server")
    assert rigged.read()["ok"] is True and again["pid"] != first
    assert f"the server exited ({EXIT_FAILING}); restarting" in rigged.log.read_text()


def test_a_models_own_failing_runs_never_restart_the_server(rigged: Rigged) -> None:
    """A model that fails every batch with its own error, after it had read a photo, used to restart the server
    after three runs: the node's healthy models went down with it, and a supervisor's restarts ran into systemd's
    start limit. Its photos fail; the server, and its other models, go on."""
    server = rigged.run([*RIGGED, str(rigged.control)])
    first = rigged.ready()["pid"]
    assert rigged.read(ONE_AT_A_TIME)["ok"] is True  # alone, its photo reads: the model has served

    (rigged.control / "together").touch()  # from now on photos arrive in bursts, read as batches
    for _ in range(FAILED_RUNS_TO_RESTART * 2):
        failed = rigged.read(ONE_AT_A_TIME)
        assert (failed["ok"], failed["error"]["code"]) == (False, "inference_failed"), failed
        assert "Reshape" in failed["error"]["message"], failed
    assert rigged.read()["ok"] is True  # the healthy model reads its burst, on the same server
    health = rigged.health()
    assert health is not None and (health["ready"], health["stopping"], health["pid"]) == (True, None, first)
    assert server.poll() is None


def test_a_stop_lets_the_request_in_flight_finish_and_takes_no_new_one(rigged: Rigged) -> None:
    """`systemctl restart` of the unit (SIGTERM) cut off the requests in flight: each cost its task a Batch retry."""
    server = rigged.run([*RIGGED, str(rigged.control)])
    rigged.ready()
    (rigged.control / "hold").touch()
    replies: list[dict[str, Any] | BaseException] = []

    def in_flight() -> None:
        try:
            replies.append(rigged.read(timeout=120))
        except (OSError, protocol.ProtocolError) as exc:
            replies.append(exc)

    caller = threading.Thread(target=in_flight)
    caller.start()
    wait_for((rigged.control / "running").exists, 60, "the photo to run")
    server.send_signal(signal.SIGTERM)
    wait_for(lambda: not (rigged.shared / protocol.SOCKET_NAME).exists(), 30, "the server to stop listening")
    with pytest.raises((FileNotFoundError, ConnectionRefusedError)):
        rigged.read(timeout=5)  # a task arriving now waits for the next server
    assert server.poll() is None  # still finishing the photo it holds

    (rigged.control / "hold").unlink()
    caller.join(120)
    assert len(replies) == 1 and isinstance(replies[0], dict) and replies[0]["ok"] is True, replies
    assert server.wait(60) == 0


def test_a_burst_of_connections_waits_in_the_backlog(rigged: Rigged) -> None:
    """Connections the busy server has not accepted yet queue in the backlog; past asyncio's default of 100 the
    kernel refused them (EAGAIN), and each refused task exited 5 at once."""
    server = rigged.run([*RIGGED, str(rigged.control)])
    rigged.ready()
    path, burst = str(rigged.shared / protocol.SOCKET_NAME), 300
    clients: list[socket.socket] = []
    server.send_signal(signal.SIGSTOP)  # a busy event loop: nothing is accepted meanwhile
    try:
        for _ in range(burst):
            client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            client.settimeout(5)  # as the task's client: a timeout makes a full backlog EAGAIN, not a wait
            clients.append(client)
            client.connect(path)  # BlockingIOError when the backlog is full
    finally:
        server.send_signal(signal.SIGCONT)
        for client in clients:
            client.close()
    assert len(clients) == burst
    assert rigged.read()["ok"] is True
