"""`sitelens sync --once` as a real process, stopped by SIGTERM or SIGINT mid-upload (a systemd timer's oneshot unit
is stopped with SIGTERM): the upload in flight finishes, no other starts, the status file says `stopped`, and the
exit code is the run's own (3: a photo is left for the next run). The API and storage are a loopback stand-in whose
first Put Block is held until the test has seen the agent take the stop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sitelens import sync_status
from tests.support.stack import REPO
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration
HOLD_S = 60.0  # the longest the held block waits for the test: a failed test must not leave the server hung


class HeldStorage:
    """`POST /api/uploads` grants an upload link back to this server; the first Put Block waits for `release`."""

    def __init__(self) -> None:
        self.grants = 0
        self.block_arrived, self.release = threading.Event(), threading.Event()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                stand_in.grants += 1
                name = f"{body['site_id']}/{body['device_id']}/{body['photo_id']}.{body['ext']}"
                url = f"{stand_in.origin}/devstoreaccount1/photos/{urllib.parse.quote(name)}?sv=2024&sp=cw&sig=x"
                grant = {"blob_name": f"photos/{name}", "upload_url": url, "max_bytes": 50_000_000,
                         "content_type": "image/jpeg"}  # fmt: skip
                self._reply(201, json.dumps(grant).encode())

            def do_PUT(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if "comp=block&" in self.path and not stand_in.block_arrived.is_set():
                    stand_in.block_arrived.set()
                    stand_in.release.wait(HOLD_S)  # the upload in flight, for as long as the test needs
                self._reply(201, b"", [("ETag", '"0x8D1"'), ("Last-Modified", "Wed, 01 Jan 2030 00:00:00 GMT")])

            def _reply(self, status: int, body: bytes, headers: list[tuple[str, str]] | None = None) -> None:
                self.send_response(status)
                for name, value in [("Content-Type", "application/json"), *(headers or [])]:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.1,), daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def storage() -> Iterator[HeldStorage]:
    held = HeldStorage()
    yield held
    held.close()


def photo_bytes(size: int) -> bytes:
    """A JPEG's start and end marker around random bytes: whole to the agent."""
    return b"\xff\xd8\xff\xe0" + os.urandom(size - 6) + b"\xff\xd9"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_once_run_stopped_mid_upload_finishes_it_starts_no_other_and_says_stopped(storage, tmp_path, signum):
    folder = tmp_path / "drop"
    folder.mkdir()
    for n in range(2):
        (folder / f"IMG_000{n}.jpg").write_bytes(photo_bytes(32 * 1024))
    log = tmp_path / "agent.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SITELENS_")}
    command = [sys.executable, "-m", "sitelens", "sync", str(folder), "--site", "north-yard", "--device", "gw-1",
               "--once", "--settle", "0.2", "--api", f"{storage.origin}/api", "--key", "device-key"]  # fmt: skip
    with log.open("w") as sink:
        agent = subprocess.Popen(command, cwd=REPO, env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        wait_for(storage.block_arrived.is_set, 60, "the first photo's upload in flight")
        agent.send_signal(signum)
        # The agent logs the stop once it is set: from then on it starts no other upload.
        wait_for(lambda: agent.poll() is not None or "stopping on signal" in log.read_text(), 30, "the stop taken")
        storage.release.set()
        code = agent.wait(60)
    finally:
        storage.release.set()
        agent.kill()
        agent.wait()
    printed = log.read_text()
    assert code == 3, printed  # the second photo is left for the next run
    assert "Traceback" not in printed
    assert storage.grants == 1, printed  # the upload in flight finished and no other started
    status = sync_status.read(folder / ".sitelens-sync" / "status.json") or {}
    assert (status.get("state"), status.get("pending"), status.get("uploaded")) == ("stopped", 1, 1), status
    assert len([line for line in printed.splitlines() if " uploaded " in line]) == 1, printed
