"""In-memory ports for the upload service, and a scriptable stand-in for the SDK's BlobClient."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from azure.core.exceptions import HttpResponseError, ResourceExistsError

from shared.errors import NotFound, TransientError
from shared.uploads.ports import Reservation, SignedUrl, StagedBlock, UploadState

T0 = datetime(2026, 11, 22, 23, 59, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class MemoryReservations:
    def __init__(self) -> None:
        self.rows: dict[tuple[str, str, str], Reservation] = {}
        self.counters: dict[tuple[str, str], tuple[str, int]] = {}  # (site, device) -> (window, new reservations)
        self.fail = False

    def reserve(self, reservation: Reservation) -> tuple[Reservation, bool]:
        if self.fail:
            raise TransientError("table storage unreachable")
        key = (reservation.site_id, reservation.device_id, reservation.photo_id)
        if key in self.rows:
            return self.rows[key], False
        self.rows[key] = reservation
        return reservation, True

    def get(self, site_id: str, device_id: str, photo_id: str) -> Reservation:
        if self.fail:
            raise TransientError("table storage unreachable")
        try:
            return self.rows[(site_id, device_id, photo_id)]
        except KeyError:
            raise NotFound(f"no reservation for {site_id}/{device_id}/{photo_id}") from None

    def release(self, site_id: str, device_id: str, photo_id: str, blob_name: str) -> bool:
        key = (site_id, device_id, photo_id)
        if key not in self.rows or self.rows[key].blob_name != blob_name:
            return False
        del self.rows[key]
        return True

    def count_new(self, site_id: str, device_id: str, window: str, cap: int) -> bool:
        if self.fail:
            raise TransientError("table storage unreachable")
        held_window, count = self.counters.get((site_id, device_id), (window, 0))
        count = count if held_window == window else 0
        if count >= cap:
            return False
        self.counters[(site_id, device_id)] = (window, count + 1)
        return True


class FakeSigner:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.committed: dict[str, str] = {}
        self.staged: dict[str, list[StagedBlock]] = {}
        self.signed: list[tuple[str, timedelta]] = []
        self.state_reads = 0

    def create_only_url(self, blob_name: str, ttl: timedelta) -> SignedUrl:
        self.signed.append((blob_name, ttl))
        return SignedUrl(f"https://acct.blob.core.windows.net/photos/{blob_name}?sig={len(self.signed)}",
                         self.clock() + ttl)  # fmt: skip

    def upload_state(self, blob_name: str) -> UploadState:
        self.state_reads += 1
        if blob_name in self.committed:
            return UploadState(self.committed[blob_name])
        return UploadState(None, tuple(self.staged.get(blob_name, [])))


def http_error(status: int, code: str = "", cls: type[HttpResponseError] = HttpResponseError) -> HttpResponseError:
    exc = cls(message=f"HTTP {status} {code}\nmore detail")
    exc.status_code = status
    exc.error_code = code  # type: ignore[attr-defined]
    return exc


class ScriptedBlob:
    """Records staged blocks and commits; `failures` maps an operation number to the exception it raises."""

    def __init__(self, store: ScriptedStorage, url: str) -> None:
        self.store, self.url = store, url

    def stage_block(self, block_id: str, data: bytes, **kwargs: Any) -> None:
        self.store.step(("stage", block_id))
        self.store.staged[block_id] = data

    def commit_block_list(self, block_ids: list[str], **kwargs: Any) -> dict[str, str]:
        self.store.step(("commit", len(block_ids)))
        if self.store.committed is not None and kwargs.get("if_none_match") == "*":
            raise http_error(409, "BlobAlreadyExists", ResourceExistsError)
        missing = [b for b in block_ids if b not in self.store.staged]
        if missing:
            raise http_error(400, "InvalidBlockList")
        self.store.committed = b"".join(self.store.staged[b] for b in block_ids)
        self.store.content_type = kwargs["content_settings"].content_type
        return {"etag": '"0x8DE0000000000001"'}


class ScriptedStorage:
    def __init__(self, failures: dict[int, BaseException] | None = None) -> None:
        self.failures = dict(failures or {})
        self.calls: list[tuple[str, object]] = []
        self.urls: list[str] = []
        self.staged: dict[str, bytes] = {}
        self.committed: bytes | None = None
        self.content_type: str | None = None

    def step(self, call: tuple[str, object]) -> None:
        self.calls.append(call)
        failure = self.failures.pop(len(self.calls), None)
        if failure is not None:
            raise failure

    def factory(self, url: str) -> ScriptedBlob:
        self.urls.append(url)
        return ScriptedBlob(self, url)
