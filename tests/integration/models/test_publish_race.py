"""Two publishers of one new version at once, against Azurite: one consistent version, the loser refused.

Each publisher is `model_storage.publish` on its own thread with its own client. The client's request hook
holds the first publisher just before it writes a chosen blob (it then holds the version's lease), and its
response hook counts lease answers, so the second publisher starts, and is released, at known points.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import numpy as np
import pytest
from azure.storage.blob import BlobLeaseClient, BlobServiceClient

from batch_tasks.models.publish import CONTAINER, MANIFEST, Upload, plan
from shared.errors import Conflict
from sitelens import model_storage
from tests.support.onnx_models import classify_graph, classify_manifest, write_classify_model, write_folder

pytestmark = pytest.mark.integration
DEADLINE_S = 90.0


class Publisher:
    """One publisher's client: records the blobs it writes, counts its lease answers, holds before `hold`."""

    def __init__(self, connection: str, hold: str | None = None) -> None:
        self.hold = hold
        self.held = threading.Event()
        self.go = threading.Event()
        self.writes: list[str] = []
        self.renewed = self.refused = 0
        self.done = False
        self.changed = threading.Condition()
        self.service = BlobServiceClient.from_connection_string(
            connection, raw_request_hook=self._request, raw_response_hook=self._response
        )

    def _request(self, request: Any) -> None:
        http = request.http_request
        path = unquote(urlparse(http.url).path)
        if http.method != "PUT" or "comp=lease" in http.url or f"/{CONTAINER}/" not in path:
            return  # not a blob written: a lease request, or the container created
        blob = path.split(f"/{CONTAINER}/", 1)[1]
        self.writes.append(blob)
        if blob == self.hold and not self.held.is_set():
            self.held.set()
            self.go.wait(DEADLINE_S)

    def _response(self, response: Any) -> None:
        action = response.http_request.headers.get("x-ms-lease-action")
        status = response.http_response.status_code
        with self.changed:
            if action == "renew" and status == 200:
                self.renewed += 1
            if action == "acquire" and status == 409:  # another publisher holds the version
                self.refused += 1
            self.changed.notify_all()

    def finished(self, _: Future[None]) -> None:
        with self.changed:
            self.done = True
            self.changed.notify_all()
        self.held.set()  # a publisher that failed before its hold does not keep the test waiting

    def until(self, condition: Callable[[], bool]) -> None:
        with self.changed:
            assert self.changed.wait_for(condition, DEADLINE_S), "not reached before the deadline"


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(2) as threads:
        yield threads


@pytest.fixture
def publisher(storage_connection: str, pool: ThreadPoolExecutor) -> Iterator[Callable[..., Publisher]]:
    """Publishers that a failed test releases from their hold, so the pool ends at once."""
    made: list[Publisher] = []

    def make(hold: str | None = None) -> Publisher:
        made.append(Publisher(storage_connection, hold))
        return made[-1]

    yield make
    for each in made:
        each.go.set()


def start(pool: ThreadPoolExecutor, publisher: Publisher, uploads: list[Upload], **options: Any) -> Future[None]:
    future = pool.submit(model_storage.publish, publisher.service, uploads, **options)
    future.add_done_callback(publisher.finished)
    return future


def reach_hold(publisher: Publisher, future: Future[None]) -> None:
    """Wait until the publisher holds before its blob; one that ended first fails the test with its error."""
    assert publisher.held.wait(DEADLINE_S)
    if future.done():
        future.result()
        pytest.fail("the publisher finished without reaching its hold")


def retrained(tmp_path: Path, name: str, folder: str = "retrained") -> Path:
    """The same name and version, other weights: another manifest."""
    return write_folder(tmp_path / folder, classify_graph(3, weights=np.eye(3)[::-1]), classify_manifest(name=name))


def stored(connection: str, name: str) -> dict[str, bytes]:
    container = BlobServiceClient.from_connection_string(connection).get_container_client(CONTAINER)
    return {b.name: container.download_blob(b.name).readall() for b in container.list_blobs(name_starts_with=name)}


def assert_consistent(blobs: dict[str, bytes], folder: Path, version: str) -> None:
    """The stored version is `folder`: its manifest, and every file the manifest lists with its SHA-256."""
    manifest = json.loads(blobs[f"{version}/{MANIFEST}"])
    assert manifest == json.loads((folder / MANIFEST).read_bytes())
    for entry in manifest["files"].values():
        data = blobs[f"{version}/{entry['file']}"]
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        assert data == (folder / entry["file"]).read_bytes()


def test_a_second_publisher_of_other_files_waits_out_the_first_and_is_refused_without_changing_a_blob(
    tmp_path, storage_connection, unique, pool, publisher
):
    """Both read "no manifest" and both uploaded every file: the version was left with one publisher's manifest
    over the other's weights. Here the first holds, before its manifest, for longer than its lease lasts."""
    name = f"race-{unique}"
    version = f"{name}/1.0.0"
    first_folder, second_folder = write_classify_model(tmp_path / "first", name=name), retrained(tmp_path, name)
    first = publisher(hold=f"{version}/{MANIFEST}")
    second = publisher()
    winner = start(pool, first, plan(first_folder), lease_s=15)
    reach_hold(first, winner)  # its files are written, its lease held
    renewed = first.renewed
    loser = start(pool, second, plan(second_folder))
    second.until(lambda: second.refused > 0 or second.done)
    assert not second.done, second.writes
    # Five renewals on a 15 s lease renewed every 15/4 s: the lease taken before holding has outlived its term.
    first.until(lambda: first.renewed >= renewed + 5)
    refused = second.refused
    second.until(lambda: second.refused > refused or second.done)
    assert not second.done
    first.go.set()
    winner.result(DEADLINE_S)
    with pytest.raises(model_storage.VersionPublished, match="version_published"):
        loser.result(DEADLINE_S)
    assert [w for w in second.writes if w.startswith(f"{name}/")] == []
    blobs = stored(storage_connection, f"{name}/")
    assert sorted(blobs) == [f"{version}/{MANIFEST}", f"{version}/model.onnx"]
    assert_consistent(blobs, first_folder, version)


def test_two_publishers_of_the_same_manifest_both_succeed_one_after_the_other(
    tmp_path, storage_connection, unique, pool, publisher
):
    name = f"same-{unique}"
    version = f"{name}/1.0.0"
    folder = write_classify_model(tmp_path / "m", name=name)
    first = publisher(hold=f"{version}/model.onnx")
    second = publisher()
    one = start(pool, first, plan(folder))
    reach_hold(first, one)
    other = start(pool, second, plan(write_classify_model(tmp_path / "copy", name=name)))  # same bytes
    second.until(lambda: second.refused > 0 or second.done)
    assert not second.done and second.writes == [f"{model_storage.LOCKS}{version}"]  # waiting, nothing written
    first.go.set()
    one.result(DEADLINE_S)
    other.result(DEADLINE_S)
    assert second.writes[1:] == [f"{version}/model.onnx", f"{version}/{MANIFEST}"]
    assert_consistent(stored(storage_connection, f"{name}/"), folder, version)


def test_a_publisher_that_lost_its_lease_writes_no_manifest(tmp_path, storage_connection, unique, pool, publisher):
    """A publisher stalled past its lease must not commit files another publisher may since have replaced."""
    name = f"lost-{unique}"
    version = f"{name}/1.0.0"
    folder = write_classify_model(tmp_path / "m", name=name)
    stalled = publisher(hold=f"{version}/model.onnx")
    publish = start(pool, stalled, plan(folder))
    reach_hold(stalled, publish)
    lock = BlobServiceClient.from_connection_string(storage_connection).get_blob_client(
        CONTAINER, f"{model_storage.LOCKS}{version}"
    )
    lease = BlobLeaseClient(lock)
    lease.break_lease(lease_break_period=0)
    lease.acquire(lease_duration=15)  # another publisher now holds the version
    stalled.go.set()
    with pytest.raises(Conflict, match=r"publish lease on .* was lost"):
        publish.result(DEADLINE_S)
    assert f"{version}/{MANIFEST}" not in stored(storage_connection, f"{name}/")
    lease.release()
    model_storage.publish(BlobServiceClient.from_connection_string(storage_connection), plan(folder))
    assert_consistent(stored(storage_connection, f"{name}/"), folder, version)
