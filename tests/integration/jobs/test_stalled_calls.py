"""A call whose connection is accepted and never answered fails TransientError within the clients' bounds.

The services are the app's, built by the real composition root, and every endpoint is a loopback listener that
never answers (tests/support/black_hole.py). With the SDKs' defaults these calls were held about 20 minutes (Table,
Batch: 300 s a try, four tries) or 5 minutes (Blob, Queue: 60 s a try, four tries, with backoff), past every budget:
a timer run past host.json's functionTimeout, an HTTP function past the front end's 230 s.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from emulators.azurite import Azurite
from shared import composition
from shared.adapters.azure_call_bounds import APP_CALLS, CallBounds, core_backoff_s, storage_backoff_s
from shared.adapters.azure_notification_queue import NOTIFICATIONS_QUEUE, StorageNotificationQueue
from shared.adapters.azure_photo_store import PHOTOS, BlobPhotoStore
from shared.config import Settings, dev_storage_connection_string
from tests.support.black_hole import BlackHole, app_at, outcomes
from tests.support.slow_link import SlowLink

pytestmark = pytest.mark.integration
# Generous over the bounds' worst case (123 s), and under the defaults' least: a Table create (a POST, never
# retried once sent) waited one 300 s read; Blob and Queue calls four 60 s reads and at least 75 s of backoff.
DEADLINE_S = 240.0


def test_the_deadline_separates_the_bounds_from_the_sdk_defaults() -> None:
    assert max(APP_CALLS.worst_case_s(core_backoff_s), APP_CALLS.worst_case_s(storage_backoff_s)) < DEADLINE_S
    assert min(300, 4 * 60 + (18 - 3) + (24 - 3) + (42 - 3)) > DEADLINE_S


def test_each_client_the_app_builds_gives_up_on_a_stalled_connection_with_a_transient_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with BlackHole() as hole, app_at(hole, monkeypatch):
        calls: dict[str, Callable[[], object]] = {
            "table": composition.jobs,  # creates the jobs table
            "batch": lambda: composition.submitter().pool_state(),
            "blob": composition.photos,  # locally, makes sure of its containers
            "queue": lambda: StorageNotificationQueue(composition.queue_client(composition.settings(),
                                                                               NOTIFICATIONS_QUEUE)),  # creates it
        }  # fmt: skip
        ended = outcomes(calls, DEADLINE_S)
        assert ended == dict.fromkeys(calls, "TransientError")
        assert len(hole.accepted) >= len(calls)  # each reached it and waited: a stall, not a refusal


def test_the_read_timeout_bounds_each_wait_not_a_whole_transfer(azurite: Azurite, unique: str) -> None:
    """A photo read over a link that passes 512 KiB every 0.25 s takes some 4 s: four times the read timeout, and
    it arrives whole, since each wait for its next bytes is short."""
    photo, name = bytes(range(256)) * (32 * 1024), f"site/dev/{unique}.jpg"  # 8 MiB
    direct = composition.blob_service(Settings.from_env({"AzureWebJobsStorage": azurite.connection_string}))
    BlobPhotoStore(direct, account_key=None, https_only=False).ensure_containers()
    blob = direct.get_blob_client(PHOTOS, name)
    etag = blob.upload_blob(photo)["etag"]
    ports = azurite.endpoints
    try:
        with SlowLink(ports.blob_port) as link:
            slow = dev_storage_connection_string(ports=(link.port, ports.queue_port, ports.table_port))
            bounds = CallBounds(connect_s=5, read_s=1, retries=0)
            with composition.blob_service(Settings.from_env({"AzureWebJobsStorage": slow}), bounds) as service:
                store = BlobPhotoStore(service, account_key=None, https_only=False)
                assert store.read_photo(name, etag, len(photo)) == photo
    finally:  # a Functions host a later test starts on this Azurite would find the photo and ingest it
        blob.delete_blob()
        direct.close()
