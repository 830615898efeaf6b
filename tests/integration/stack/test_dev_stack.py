"""`sitelens dev` as a user runs it: children up, endpoints written, clean stop on SIGTERM and Ctrl-C."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from emulators.azurite import Azurite, free_ports
from emulators.child_process import ChildFailed
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purpose
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split()[2] == "Z")


def _parsed(path: Path) -> dict[str, Any] | None:
    """The JSON document at `path`, or None while it is not there whole."""
    try:
        doc = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_dev_starts_the_stack_writes_endpoints_and_stops_every_child(tmp_path, stop_signal):
    *azurite_ports, port, batch_port = free_ports(5)
    ports = [str(p) for p in azurite_ports]
    cmd = [sys.executable, "-m", "sitelens", "dev", "--state-dir", str(tmp_path), "--azurite-ports", *ports]
    cmd += ["--port", str(port), "--batch-port", str(batch_port)]
    # its own process group, so a failing test can still stop every child it started
    proc = subprocess.Popen(
        cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    children: list[int] = []
    try:
        stack_file = tmp_path / "stack.json"
        stack = wait_for(lambda: _parsed(stack_file), 90, "stack.json, whole")
        assert stack["functions"]["url"] == f"http://127.0.0.1:{port}"
        assert stack["storage"]["blob"].endswith(f":{ports[0]}/devstoreaccount1")
        assert oct(stack_file.stat().st_mode & 0o777) == "0o600"  # it holds keys
        assert stack["batch"]["endpoint"] == f"http://127.0.0.1:{batch_port}" and stack["batch"]["key"]
        with urllib.request.urlopen(f"{stack['functions']['api']}/health", timeout=10) as r:
            assert json.loads(r.read())["status"] == "ok"
        children = [pid for pid in stack["pids"].values() if pid]
        assert all(alive(pid) for pid in children)
        proc.send_signal(stop_signal)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            for pid in children:  # Azurite has a session of its own
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
    assert proc.returncode == 0, out
    assert "stopped" in out
    assert not any(alive(pid) for pid in children)
    assert not stack_file.exists()


def test_taken_port_gets_a_clear_message_not_a_hang(tmp_path, azurite):
    busy = azurite.endpoints.blob_port
    queue_port, table_port = free_ports(2)
    with pytest.raises(ChildFailed, match="already listening"):
        Azurite.start(REPO, tmp_path, (busy, queue_port, table_port))


def test_foreign_process_on_the_port_is_named(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        queue_port, table_port = free_ports(2)
        with pytest.raises(ChildFailed, match=f"port {port} is taken"):
            Azurite.start(REPO, tmp_path, (port, queue_port, table_port))


def test_a_taken_batch_port_stops_what_started_with_the_one_error(tmp_path):
    import socket

    from sitelens.stack import Stack

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        blob_port, queue_port, table_port, functions_port = free_ports(4)
        stack = Stack(
            REPO, tmp_path, (blob_port, queue_port, table_port), functions_port=functions_port, batch_port=port
        )
        with pytest.raises(ChildFailed, match=f"the Batch service: port {port} is taken") as failure:
            stack.start()
    assert failure.value.name == "the Batch service"
    assert stack.azurite is not None and not stack.azurite.alive()  # Azurite, already up, was stopped
    assert stack.batch is None and not stack.stack_file.exists()


@pytest.mark.parametrize("in_memory", [False, True])
def test_azurite_in_memory_keeps_nothing_on_disk(tmp_path, in_memory):
    from azure.storage.blob import BlobServiceClient

    data = tmp_path / "azurite"
    blob_port, queue_port, table_port = free_ports(3)
    azurite = Azurite.start(REPO, data, (blob_port, queue_port, table_port), in_memory=in_memory)
    try:
        blobs = BlobServiceClient.from_connection_string(azurite.connection_string)
        blobs.create_container("photos").upload_blob("a.jpg", b"x" * 1000)
        assert blobs.get_container_client("photos").download_blob("a.jpg").readall() == b"x" * 1000
    finally:
        azurite.stop()  # a stop saves a database kept on disk
    saved = sorted(p.name for p in data.iterdir() if p.name.startswith("__azurite_db"))
    assert saved == ([] if in_memory else [f"__azurite_db_{s}__.json" for s in ("blob", "blob_extent", "queue",
                                                                                "queue_extent", "table")])  # fmt: skip


def test_a_restart_waits_for_its_port_to_come_free_and_no_longer():
    import socket
    import threading

    from sitelens.stack import port_freed

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        assert not port_freed(port, 0.3)  # still held when the wait is over

        def leave_after_the_first_probe() -> None:
            conn, _ = held.accept()  # a probe came (the first wait's, still queued, or this one's)
            conn.close()
            held.close()

        leaving = threading.Thread(target=leave_after_the_first_probe)
        leaving.start()
        assert port_freed(port, 30.0)  # free once the holder left, long before the wait is over
        leaving.join(10)
