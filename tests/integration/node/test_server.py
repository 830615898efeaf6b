"""The node server under concurrent clients, bad photos and a crash; the real model on the CPU."""

from __future__ import annotations

import base64
import os
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from batch_tasks import protocol
from batch_tasks.ocr.opencv import cv2
from batch_tasks.task import READY_WAIT_S
from tests.integration.node.conftest import Node
from tests.integration.ocr import photos
from tests.support.waiting import wait_for

WORDS = ["PUMP P-104", "VALVE V-22", "TANK 7", "METER 4512", "FAN F-9", "GATE 31"]


def _photo(folder: Path, text: str) -> Path:
    image = photos.paper(720, 1280, seed=len(text))
    photos.write(image, text, (120, 300), 2.2, 4)
    path = folder / f"{text.replace(' ', '_')}.jpg"
    path.write_bytes(photos.jpeg(image))
    return path


def _read(node: Node, path: Path) -> dict[str, Any]:
    return node.call({"op": "read", "model": "ocr/ppocrv4", "path": str(path)})


def _texts(reply: dict[str, Any]) -> list[str]:
    result = reply["result"]
    assert isinstance(result, dict)
    return [photos.canon(line["text"]) for line in result["lines"]]


def test_health_reports_the_warm_model_and_provider(node: Node) -> None:
    health = node.health()
    assert health["ready"] is True
    assert health["gpu"] is False
    [model] = health["models"]
    assert model["id"] == "ocr/ppocrv4"
    assert model["provider"] == "CPUExecutionProvider"
    assert model["warm_runs"] > 0


def test_concurrent_clients_each_get_their_own_result_and_a_batch_forms(node: Node, tmp_path: Path) -> None:
    paths = [_photo(tmp_path, w) for w in WORDS]
    before = node.health()["models"][0]["batching"]
    with ThreadPoolExecutor(len(paths)) as pool:
        replies = list(pool.map(lambda p: _read(node, p), paths))
    for word, reply in zip(WORDS, replies, strict=True):
        assert reply["ok"] is True, reply
        assert _texts(reply) == [photos.canon(word)]
    after = node.health()["models"][0]["batching"]
    assert after["items"] - before["items"] == len(WORDS)
    # Six requests arrive while the first batch runs (~0.5 s on the CPU), so later batches hold several.
    assert after["batches"] - before["batches"] < len(WORDS)
    assert after["max_batch_seen"] >= 2


def test_a_bad_photo_fails_only_its_own_request(node: Node, tmp_path: Path) -> None:
    good = _photo(tmp_path, "TANK 7")
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(good.read_bytes()[:2000])
    text = tmp_path / "notes.jpg"
    text.write_bytes(b"this is not an image at all\n" * 20)
    huge = tmp_path / "huge.png"  # a header that claims 60,000 x 60,000 pixels: refused before decoding
    huge.write_bytes(
        b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + (60000).to_bytes(4, "big") * 2 + b"\x08\x02\x00\x00\x00"
    )
    with ThreadPoolExecutor(4) as pool:
        replies = dict(zip(["good", "truncated", "text", "huge"],
                           pool.map(lambda p: _read(node, p), [good, truncated, text, huge]), strict=True))  # fmt: skip
    assert replies["good"]["ok"] is True and _texts(replies["good"]) == ["TANK7"]
    assert replies["truncated"]["error"]["code"] == "bad_input"
    assert "corrupt_image" in replies["truncated"]["error"]["message"]
    assert replies["text"]["error"]["code"] == "bad_input"
    assert "unsupported_type" in replies["text"]["error"]["message"]
    assert replies["huge"]["error"]["code"] == "too_large"
    assert node.health()["ready"] is True
    assert _read(node, good)["ok"] is True  # the server is still serving


def test_malformed_frames_and_requests_get_errors_not_a_dead_server(node: Node, tmp_path: Path) -> None:
    assert node.call({"op": "explode"})["error"]["code"] == "bad_request"
    assert node.call({"op": "read", "model": "../etc", "path": "/x"})["error"]["code"] == "unknown_model"
    assert (
        node.call({"op": "read", "model": "ocr/ppocrv4", "path": str(tmp_path / "absent.jpg")})["error"]["code"]
        == "input_missing"
    )
    with protocol.connect(node.socket, 5) as sock:
        sock.sendall(b"\x00\x00\x00\x05nope!")
        header = sock.recv(4)
        assert header, "the server answers a non-JSON frame before closing"
    assert node.health()["ready"] is True


def test_a_read_naming_an_overlay_path_writes_nothing_and_is_refused(node: Node, tmp_path: Path) -> None:
    """The server (root on a node, its socket open to every local user) never writes a file a request names;
    a tool of an earlier release that sends `overlay_path` is told, not left without its file."""
    photo, absent, victim = _photo(tmp_path, "FAN F-9"), tmp_path / "overlay.jpg", tmp_path / "victim.txt"
    victim.write_text("keep me")
    for target in (absent, victim):
        reply = node.call({"op": "read", "model": "ocr/ppocrv4", "path": str(photo), "overlay_path": str(target)})
        assert reply["ok"] is False and reply["error"]["code"] == "bad_request", reply
        assert "overlay_path" in reply["error"]["message"]
    assert not absent.exists()
    assert victim.read_text() == "keep me"


def test_the_overlay_comes_back_in_the_reply_when_asked(node: Node, tmp_path: Path) -> None:
    photo = _photo(tmp_path, "FAN F-9")
    assert "overlay_jpeg_b64" not in _read(node, photo)  # only when asked: most reads want the text alone
    reply = node.call({"op": "read", "model": "ocr/ppocrv4", "path": str(photo), "overlay": True})
    assert reply["ok"] is True and _texts(reply) == [photos.canon("FAN F-9")]
    jpeg = base64.b64decode(reply["overlay_jpeg_b64"], validate=True)
    assert jpeg[:2] == b"\xff\xd8"
    drawn = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert drawn is not None  # a whole JPEG, not a prefix
    assert drawn.shape[:2] == (720, 1280) == (reply["result"]["height"], reply["result"]["width"])


def test_starting_again_is_a_no_op_while_the_server_is_healthy(node: Node) -> None:
    pid = node.pid()
    again = node.start(timeout=30)
    assert again.returncode == 0, again.stderr
    assert "already running" in again.stdout
    assert node.pid() == pid


def _decode_workers(server: int) -> list[int]:
    """The server's spawned pool workers (not its resource tracker), by their command lines."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and entry.name != str(server):
            try:
                if _parent_pid(int(entry.name)) == server and b"spawn_main" in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except (OSError, StopIteration):
                continue  # gone meanwhile
    return found


def test_a_decode_worker_that_dies_is_replaced_and_the_server_reads_on(node: Node, tmp_path: Path) -> None:
    """A worker killed for memory (or crashing in a codec) broke the pool for good: every later photo failed
    while health said ready. Now the photo in flight may get a retryable error, never a dropped connection,
    and the pool is started again for the next."""
    photo, server = _photo(tmp_path, "TANK 7"), node.pid()
    assert _read(node, photo)["ok"] is True
    [worker] = _decode_workers(server)  # the node fixture runs one (SITELENS_DECODE_WORKERS=1)
    os.kill(worker, signal.SIGKILL)
    wait_for(lambda: not Path(f"/proc/{worker}").exists() or "State:\tZ" in Path(f"/proc/{worker}/status").read_text(),
             15, "the worker to die")  # fmt: skip
    replies = []

    def read_again() -> bool:
        replies.append(_read(node, photo))  # a dropped connection raises here and fails the test
        return bool(replies[-1]["ok"])

    wait_for(read_again, 60, "a read after the worker died")
    assert all(r["error"]["retryable"] for r in replies[:-1]), replies
    assert photos.canon("TANK 7") in _texts(replies[-1]) and node.pid() == server
    assert node.health()["decode_restarts"] == 1


@pytest.fixture
def doomed(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> Node:
    """A node of its own, under a path too long for a Unix socket's sun_path, for tests that kill it."""
    deep = tmp_path_factory.mktemp("doomed") / ("x" * 60) / ("y" * 40) / "shared"
    from tests.integration.node.conftest import node_env

    n = Node(deep, node_env(deep))
    started = n.start()
    assert started.returncode == 0, started.stderr
    assert len(str(n.socket)) > 108
    return n


def test_a_crashed_server_is_reported_by_the_task_in_seconds(doomed: Node, tmp_path: Path) -> None:
    photo = _photo(tmp_path, "GATE 31")
    assert doomed.call({"op": "read", "model": "ocr/ppocrv4", "path": str(photo)})["ok"] is True

    # Killed while a request is in flight: the client sees the connection drop, not a hang.
    errors: list[BaseException] = []

    def in_flight() -> None:
        try:
            doomed.call({"op": "read", "model": "ocr/ppocrv4", "path": str(photo)}, timeout=60)
        except (OSError, protocol.ProtocolError) as exc:
            errors.append(exc)

    # The supervisor would start the server again (as systemd does in Azure): stop it first, so this server
    # stays dead, as one that crashes every time would once its supervisor gives up.
    supervisor = _parent_pid(doomed.pid())
    os.kill(supervisor, signal.SIGKILL)
    wait_for(lambda: not Path(f"/proc/{supervisor}").exists(), 15, "the supervisor to exit")
    caller = threading.Thread(target=in_flight)
    caller.start()
    doomed.kill()
    caller.join(60)
    assert not caller.is_alive()

    # Dead: after waiting out a restart (READY_WAIT_S), a task exits with the documented code and says why
    # (the subprocess timeout guards a hang).
    done = doomed.task("j_crashed", str(photo), timeout=READY_WAIT_S + 30)
    assert done.returncode == 5, done.stderr
    assert "node server unavailable" in done.stderr

    # The start task brings a server back on the same node (stale socket and pid file replaced).
    restarted = doomed.start()
    assert restarted.returncode == 0, restarted.stderr
    assert doomed.call({"op": "read", "model": "ocr/ppocrv4", "path": str(photo)})["ok"] is True
    doomed.stop()


def _parent_pid(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:")))
