"""A real node server (`python -m batch_tasks.start --supervisor detached`) on the CPU, per test module."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueClient

from batch_tasks import protocol
from batch_tasks.models.manifest import ManifestError, load
from emulators.azurite import Azurite
from tests.support.queues import emptied
from tests.support.waiting import wait_for

REPO = Path(__file__).resolve().parents[3]
MODELS = REPO / "models"  # fetched by `make setup`


@dataclass
class Node:
    """One virtual node's shared folder and the server the start task launched there."""

    shared: Path
    env: dict[str, str]

    @property
    def socket(self) -> Path:
        return self.shared / protocol.SOCKET_NAME

    def start(self, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "batch_tasks.start", "--supervisor", "detached", "--timeout", str(timeout)],
            env=self.env, capture_output=True, text=True, timeout=timeout + 30, cwd=REPO, check=False,
        )  # fmt: skip

    def pid(self) -> int:
        return int((self.shared / "sitelens-server.pid").read_text())

    def call(self, request: dict[str, Any], timeout: float = 120) -> dict[str, Any]:
        return protocol.call(self.socket, request, timeout)

    def health(self) -> dict[str, Any]:
        return self.call({"op": "health"}, 5)

    def task(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "batch_tasks.task", *args], env={**self.env, **(env or {})},
            capture_output=True, text=True, timeout=timeout, cwd=self.shared.parent, check=False,
        )  # fmt: skip

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, FileNotFoundError, ValueError):
            pid = self.pid()
            os.kill(pid, signal.SIGKILL)
            wait_for(lambda: not _alive(pid), 15, "the killed server to exit")

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError, FileNotFoundError, ValueError):
            pid = self.pid()
            os.kill(pid, signal.SIGTERM)
            wait_for(lambda: not _alive(pid), 30, "the server to stop")

    @contextlib.contextmanager
    def running(self, not_served: str = "") -> Iterator[Node]:
        """Started (the start task's way, which must succeed, or fail on the warm models `not_served` only, with the
        server up), then stopped whatever the test did."""
        try:
            started = self.start()
            if not_served:
                assert started.returncode == 1 and f"warm models not served: {not_served}" in started.stderr, started
            else:
                assert started.returncode == 0, started.stderr
            yield self
        finally:
            self.stop()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (our own child in some tests) counts as gone
    with contextlib.suppress(OSError):
        return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    return True


def node_env(shared: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SITELENS_", "AZ_BATCH_"))}
    env.update(
        AZ_BATCH_NODE_SHARED_DIR=str(shared), SITELENS_MODELS_DIR=str(MODELS), SITELENS_PROVIDER="cpu",
        SITELENS_INTRA_OP_THREADS="2", SITELENS_DECODE_WORKERS="1", SITELENS_MAX_WAIT_MS="20",
    )  # fmt: skip
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def models_dir() -> Path:
    try:
        load(MODELS / "ocr" / "ppocrv4")
    except ManifestError as exc:
        pytest.skip(f"the model is not fetched (run make setup): {exc}")
    return MODELS


@pytest.fixture(scope="module")
def storage(azurite: Azurite) -> str:
    conn: str = azurite.connection_string
    with contextlib.suppress(ResourceExistsError):
        BlobServiceClient.from_connection_string(conn).create_container("results")
    emptied(conn, "completions")  # what earlier modules left there would hide this module's from a peek
    return conn


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory, models_dir: Path, storage: str) -> Iterator[Node]:
    shared = tmp_path_factory.mktemp("node") / "shared"
    with Node(shared, node_env(shared, SITELENS_STORAGE_CONNECTION=storage)).running() as n:
        yield n


def completion_messages(storage: str, job_id: str) -> list[dict[str, Any]]:
    """The completion messages posted for `job_id` (peeked, left in the queue)."""
    queue = QueueClient.from_connection_string(storage, "completions")
    found = []
    for m in queue.peek_messages(max_messages=32):
        doc = json.loads(base64.b64decode(m.content))  # the Functions trigger's encoding
        if doc["job_id"] == job_id:
            found.append(doc)
    return found
