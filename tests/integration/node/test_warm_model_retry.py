"""A node whose first download of its warm model is refused by storage (throttled at boot) still starts: the server
tries the model again before it reports ready. One such refusal used to leave the server ready without its model
for good, the start task failed at each of Batch's attempts (the server was not restarted), and the node never
served.

Storage is Azurite behind a loopback stand-in that refuses the first listing of the model's folder with 429, which
the node takes for a transient failure as it takes a 503 once the storage SDK's retries are spent (the SDK retries a
503 for about a minute first; it does not retry a 429)."""

from __future__ import annotations

import contextlib
import http.client
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from batch_tasks.models.publish import plan
from batch_tasks.node import warmup
from sitelens.models_command import upload
from tests.integration.node.conftest import Node, node_env
from tests.support.onnx_models import classify_graph, classify_manifest, write_folder

MODEL = "bootshy/1.0.0"
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


class ThrottlingStandIn:
    """Blob storage's endpoint on loopback: every request relayed to Azurite, but for the first `refusals` listings
    of `prefix`, answered 429 ServerBusy without reaching it."""

    def __init__(self, blob_endpoint: str, prefix: str, refusals: int) -> None:
        target = urlsplit(blob_endpoint)
        self.refused, stand_in = 0, self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _relay(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                listing = "comp=list" in self.path and f"prefix={prefix}" in unquote(self.path)
                if listing and stand_in.refused < refusals:
                    stand_in.refused += 1
                    self.send_response(429, "Server Busy")
                    self.send_header("x-ms-error-code", "ServerBusy")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                upstream = http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port, timeout=30)
                try:
                    upstream.request(self.command, self.path, body or None, dict(self.headers))
                    answer = upstream.getresponse()
                    data = answer.read()
                finally:
                    upstream.close()
                self.send_response(answer.status, answer.reason)
                for name, value in answer.getheaders():
                    if name.lower() not in _HOP_BY_HOP:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_HEAD = do_DELETE = do_POST = _relay

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, args=(0.1,), daemon=True).start()
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}{target.path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def published(storage: str, tmp_path: Path) -> str:
    """Azurite's connection string, the model published there."""
    name = MODEL.split("/", maxsplit=1)[0]
    upload(plan(write_folder(tmp_path / "source", classify_graph(3), classify_manifest(name=name))), storage)
    return storage


@contextlib.contextmanager
def throttled_node(storage: str, root: Path, refusals: int) -> Iterator[tuple[Node, ThrottlingStandIn]]:
    """A node whose storage's blob endpoint is the stand-in, refusing its first `refusals` listings of the model."""
    blob_endpoint = re.search(r"BlobEndpoint=([^;]+)", storage)
    assert blob_endpoint is not None
    stand_in = ThrottlingStandIn(blob_endpoint[1], MODEL + "/", refusals)
    shared = root / "shared"
    connection = storage.replace(blob_endpoint[1], stand_in.endpoint)
    env = node_env(shared, SITELENS_STORAGE_CONNECTION=connection, SITELENS_MODELS_DIR=str(root / "models"),
                   SITELENS_WARM_MODELS=MODEL)  # fmt: skip
    node = Node(shared, env)
    try:
        yield node, stand_in
    finally:
        node.stop()
        stand_in.close()


def test_a_warm_model_refused_once_at_boot_is_loaded_and_the_start_succeeds(published: str, tmp_path: Path) -> None:
    with throttled_node(published, tmp_path, refusals=1) as (node, stand_in):
        started = node.start(timeout=120)
        assert stand_in.refused == 1  # the first download was refused
        assert started.returncode == 0, started.stderr
        assert [m["id"] for m in node.health()["models"]] == [MODEL]
        assert (
            f"warm model {MODEL} did not load (model_unavailable" in (node.shared / "sitelens-server.log").read_text()
        )


def test_a_start_task_retry_restarts_a_server_that_gave_its_warm_model_up(published: str, tmp_path: Path) -> None:
    """Refused past the server's retries: that attempt of the start task fails the node, and Batch's next attempt
    restarts the server, whose warm-up downloads the model anew."""
    with throttled_node(published, tmp_path, refusals=len(warmup.RETRY_DELAYS_S) + 1) as (node, stand_in):
        first = node.start(timeout=180)
        assert stand_in.refused == len(warmup.RETRY_DELAYS_S) + 1  # each of the warm-up's attempts
        assert first.returncode == 1 and f"warm models not served: {MODEL}" in first.stderr, first
        gave_up = node.pid()

        again = node.start(timeout=120)  # Batch's retry of the start task
        assert again.returncode == 0, again
        assert "restarting it" in again.stdout and node.pid() != gave_up
        assert [m["id"] for m in node.health()["models"]] == [MODEL]
