"""`sitelens sync` as a real process against the real app on the local Functions host and Azurite: a file
written slowly, a kill -9 mid-upload, SIGTERM mid-upload, and the API down for a while. Each waits on the agent's
status file."""

from __future__ import annotations

import base64
import contextlib
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobServiceClient

from emulators.azurite import Azurite
from sitelens import sync_status
from sitelens.sync_journal import Journal
from tests.support.stack import REPO, HostProcess
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration
KEY = "host-key"
RARELY = "0 0 0 1 1 *"  # timers these tests do not exercise
BLOCK = 16 * 1024


@pytest.fixture(scope="module")
def host(azurite: Azurite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostProcess]:
    """The real app with its blob trigger: ingestion records each job (these photos are then rejected by
    validation, or wait for a Batch service that is not there: either way the status API answers them)."""
    unique = uuid.uuid4().hex[:10]
    values = {
        "AzureWebJobsStorage": azurite.connection_string,
        "AzureFunctionsWebHost__hostid": f"sync-{unique}",
        "SITELENS_TABLE_PREFIX": f"t{unique}",
        "SITELENS_WEBHOOK_SWEEP_SCHEDULE": RARELY,
        "SITELENS_RECONCILE_SCHEDULE": RARELY,
        "SITELENS_RECORDS_EXPIRY_SCHEDULE": RARELY,
        "SITELENS_BATCH_URL": "http://127.0.0.1:9",
        "SITELENS_BATCH_ACCOUNT": "unused",
        "SITELENS_BATCH_KEY": base64.b64encode(b"unused").decode(),
    }
    keys = {"master": "test-master-key", "host": {"default": KEY}}
    started = HostProcess.prepare_repo_app(tmp_path_factory.mktemp("sync") / "app", values, keys=keys).start()
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def photos(azurite: Azurite, unique: str) -> Any:
    """Blob name → bytes of this test's site's committed photos, as the app's own storage client sees them:
    in `photos/`, or in `quarantine/` under the same name once validation has rejected them (these do not
    decode). A photo sent twice would be two names, or a name with later writes."""
    service = BlobServiceClient.from_connection_string(azurite.connection_string)

    def committed() -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        for container in (service.get_container_client("photos"), service.get_container_client("quarantine")):
            with contextlib.suppress(ResourceNotFoundError):
                for blob in container.list_blobs(name_starts_with=f"s{unique}/"):
                    with contextlib.suppress(ResourceNotFoundError):  # moved to quarantine/ meanwhile
                        found.setdefault(blob.name, container.download_blob(blob.name).readall())
        return found

    return committed


def photo_bytes(size: int) -> bytes:
    """A JPEG's start and end marker around random bytes: whole to the agent (its pixels do not decode)."""
    return b"\xff\xd8\xff\xe0" + os.urandom(size - 6) + b"\xff\xd9"


class AgentProcess:
    def __init__(self, folder: Path, host: HostProcess, site: str, *extra: str) -> None:
        self.folder, self.log = folder, folder.parent / f"agent-{uuid.uuid4().hex[:6]}.log"
        self.status_path = folder / ".sitelens-sync" / "status.json"
        env = {**os.environ, "SITELENS_API": f"{host.url}/api", "SITELENS_API_KEY": KEY}
        command = [sys.executable, "-m", "sitelens", "sync", str(folder), "--site", site, "--device", "cam1",
                   "--poll", "0.2", "--max-backoff", "2", "--block-size", "16KiB", *extra]  # fmt: skip
        with self.log.open("w") as log:
            self.process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)

    def status(self) -> dict[str, Any]:
        return sync_status.read(self.status_path) or {}

    def wait(self, timeout: float = 120.0) -> int:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise AssertionError(f"the agent did not exit:\n{self.log.read_text()}") from None

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.wait()

    def text(self) -> str:
        return self.log.read_text()


def seen(agent: AgentProcess, settling: dict[str, Any]) -> bool:
    """The agent has seen the file at this size and is waiting for it to settle (or, settled, to be whole)."""
    return any(settling.items() <= entry.items() for entry in agent.status().get("settling", []))


def sent_lines(*agents: AgentProcess) -> list[str]:
    return [line for agent in agents for line in agent.text().splitlines() if " uploaded " in line]


def test_a_file_written_slowly_is_uploaded_once_and_whole(host, photos, unique, tmp_path):
    folder = tmp_path / "drop"
    folder.mkdir()
    agent = AgentProcess(folder, host, f"s{unique}", "--settle", "3")
    try:
        data, path = photo_bytes(6 * BLOCK), folder / "IMG_0001.jpg"
        for end in range(BLOCK, len(data) + 1, BLOCK):  # a camera writing a block at a time
            with path.open("ab") as handle:
                handle.write(data[end - BLOCK : end])
            wait_for(partial(seen, agent, {"path": str(path), "size": end}), 30, f"the agent sees {end} bytes")
        wait_for(lambda: agent.status().get("confirmed", 0) + agent.status().get("finished", 0) == 1, 90,
                 "the job confirmed")  # fmt: skip
        assert list(photos().values()) == [data]
        assert agent.stop() == 0
        assert agent.status()["state"] == "stopped" and agent.status()["last_error"] is None
        assert len(sent_lines(agent)) == 1, agent.text()
    finally:
        agent.process.kill()


def test_a_transfer_that_stalls_past_the_settle_time_is_held_then_uploaded_once_and_whole(
    host, photos, unique, tmp_path
):
    folder = tmp_path / "drop"
    folder.mkdir()
    agent = AgentProcess(folder, host, f"s{unique}", "--settle", "0.5")
    try:
        data, path = photo_bytes(4 * BLOCK), folder / "IMG_0005.jpg"
        path.write_bytes(data[: 2 * BLOCK])  # the link stalls mid-file for far longer than --settle
        held = {"path": str(path), "size": 2 * BLOCK, "incomplete": True}
        wait_for(partial(seen, agent, held), 30, "the agent holding the incomplete file")
        assert photos() == {} and sent_lines(agent) == []
        with path.open("ab") as handle:  # the rest arrives
            handle.write(data[2 * BLOCK :])
        wait_for(lambda: agent.status().get("confirmed", 0) + agent.status().get("finished", 0) == 1, 90,
                 "the job confirmed")  # fmt: skip
        assert list(photos().values()) == [data]
        assert agent.stop() == 0 and len(sent_lines(agent)) == 1, agent.text()
    finally:
        agent.process.kill()


def test_kill_9_mid_upload_then_a_restart_resumes_and_uploads_once(host, photos, unique, tmp_path):
    folder = tmp_path / "drop"
    folder.mkdir()
    data = photo_bytes(12 * BLOCK)
    (folder / "IMG_0002.jpg").write_bytes(data)
    slow = AgentProcess(folder, host, f"s{unique}", "--once", "--settle", "0.5", "--bandwidth", "16KiB")
    try:
        photo = folder / "IMG_0002.jpg"
        wait_for(lambda: slow.status().get("pending") == 1 and _staged_blocks(host, photo, unique) >= 3, 60,
                 "three blocks staged")  # fmt: skip
        slow.process.send_signal(signal.SIGKILL)
        assert slow.wait() == -signal.SIGKILL
    finally:
        slow.process.kill()
    assert photos() == {}  # nothing committed yet
    again = AgentProcess(folder, host, f"s{unique}", "--once", "--settle", "0.5")
    assert again.wait() == 0, again.text()
    assert list(photos().values()) == [data]
    [line] = sent_lines(again)
    staged = int(line.rsplit(", ", 1)[1].split()[0])
    assert staged >= 3, line  # the blocks staged before the kill were not sent again
    journal = Journal(folder / ".sitelens-sync" / "journal.sqlite3")
    assert [e.state for e in journal.in_state("pending", "uploaded", "confirmed", "finished")] in (
        ["uploaded"], ["confirmed"], ["finished"])  # fmt: skip
    journal.close()
    third = AgentProcess(folder, host, f"s{unique}", "--once", "--settle", "0.5")
    assert third.wait() == 0 and sent_lines(third) == []  # a confirmed photo is never sent again


def test_sigterm_lets_the_upload_in_flight_finish_and_starts_no_other(host, photos, unique, tmp_path):
    folder = tmp_path / "drop"
    folder.mkdir()
    files = [folder / f"IMG_001{n}.jpg" for n in range(3)]
    for path in files:
        path.write_bytes(photo_bytes(6 * BLOCK))  # about 5 s each at the cap below: the stop lands mid-photo
    agent = AgentProcess(folder, host, f"s{unique}", "--settle", "0.5", "--bandwidth", "16KiB")
    try:
        # A block staged means an upload is in flight (the agent takes the files in no fixed order).
        wait_for(lambda: sum(_staged_blocks(host, path, unique) for path in files) >= 1, 60, "a block staged")
        assert agent.stop() == 0
        assert len(sent_lines(agent)) == 1, agent.text()  # the one in flight finished, no other started
        assert (agent.status()["state"], agent.status()["pending"]) == ("stopped", 2), agent.text()
        assert len(photos()) == 1
    finally:
        agent.process.kill()


def _staged_blocks(host: HostProcess, path: Path, unique: str) -> int:
    """How many blocks the service holds for the photo: what a device's repeated `POST /uploads` lists."""
    from sitelens.api_client import ApiClient
    from sitelens.upload import default_photo_id

    body = {"site_id": f"s{unique}", "device_id": "cam1", "photo_id": default_photo_id(path, path.read_bytes())}
    return len(ApiClient(f"{host.url}/api", KEY).post("/uploads", body).get("staged_blocks") or [])


def test_the_api_down_for_a_while_then_up_backs_off_and_then_uploads(host, photos, unique, tmp_path):
    folder = tmp_path / "drop"
    folder.mkdir()
    data = photo_bytes(3 * BLOCK)
    (folder / "IMG_0003.jpg").write_bytes(data)
    host.stop()
    agent = AgentProcess(folder, host, f"s{unique}", "--settle", "0.5")
    try:
        wait_for(lambda: (agent.status().get("last_error") or {}).get("reason") == "unreachable", 120,
                 "the agent backing off")  # fmt: skip
        assert agent.status()["pending"] == 1 and agent.process.poll() is None
        host.start()
        wait_for(lambda: agent.status().get("confirmed", 0) + agent.status().get("finished", 0) == 1, 120,
                 "the photo uploaded and its job confirmed once the API is back")  # fmt: skip
        assert list(photos().values()) == [data]
        assert agent.status()["last_success_at"] and agent.status()["pending"] == 0
        assert agent.stop() == 0 and len(sent_lines(agent)) == 1
    finally:
        agent.process.kill()
