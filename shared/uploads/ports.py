"""The storage seams the upload service needs, and the values that cross them. Adapters implement them.

Adapters raise shared.errors: TransientError when a retry may help, PermanentError otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol


@dataclass(frozen=True)
class Reservation:
    """One device photo's blob name, fixed by the first request (so the date part never changes)."""

    site_id: str
    device_id: str
    photo_id: str
    ext: str
    blob_name: str  # inside the `photos` container
    created_at: datetime


@dataclass(frozen=True)
class SignedUrl:
    url: str  # blob URL with the SAS query
    expires_at: datetime


@dataclass(frozen=True)
class StagedBlock:
    """An uncommitted block of the blob: its id as the client named it, and its size in bytes."""

    id: str
    size: int


@dataclass(frozen=True)
class UploadState:
    """How far a device got with its blob: committed (with the blob's ETag), or the blocks staged so far."""

    etag: str | None  # None while nothing is committed
    staged: tuple[StagedBlock, ...] = ()


class ReservationStore(Protocol):
    def reserve(self, reservation: Reservation) -> tuple[Reservation, bool]:
        """Insert if absent; returns the stored reservation and whether this call created it."""
        ...

    def get(self, site_id: str, device_id: str, photo_id: str) -> Reservation:
        """The stored reservation; NotFound when these ids were never reserved."""
        ...

    def count_new(self, site_id: str, device_id: str, window: str, cap: int) -> bool:
        """Count one new reservation of the device in `window` (an opaque label: a new label starts again at
        zero); False, counting nothing, when `cap` are counted in that window already."""
        ...

    def release(self, site_id: str, device_id: str, photo_id: str, blob_name: str) -> bool:
        """Delete the reservation if it still names `blob_name` (erasing that photo); False when it names another
        or there is none. The ids may then be reserved again, under a new name."""
        ...


class UploadSigner(Protocol):
    def create_only_url(self, blob_name: str, ttl: timedelta) -> SignedUrl:
        """A URL that can create exactly `photos/{blob_name}` (create + write) and nothing else, for `ttl`."""
        ...

    def upload_state(self, blob_name: str) -> UploadState:
        """The committed blob's ETag, or else the uncommitted blocks staged for that name (read with the app's
        own identity: the device's SAS cannot read, so it cannot ask Get Block List itself)."""
        ...
