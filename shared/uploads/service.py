"""`POST /api/uploads`: reserve the photo's blob name once, then sign a create-only URL for exactly that blob.

The name is `photos/{site}/{device}/{yyyy}/{mm}/{dd}/{photo_id}.{ext}` with the UTC date of the *first*
request, kept in a reservation (create-if-absent), so a device that retries — minutes or days later — gets
the same name. The pipeline's job id comes from that name alone, so every reply names the job
(`job_hint`) before anything is uploaded, and duplicate uploads collapse into it.

When the blob is already committed the reply carries no URL (the device is done; this also shortens the
window in which the write permission could overwrite it). Otherwise a repeat lists the blocks an
interrupted upload left staged (`staged_blocks`), so the device sends only the rest: its SAS cannot read
the block list itself.

A reservation is a row kept for good and an upload link, so new ones are capped per device and UTC hour
(`UploadSettings.new_per_device_hour`); over the cap the request is refused `too_many_reservations` (429,
`Retry-After`: the next hour) before anything is stored. Repeats of a reservation are never counted. The
count is of reservations made, not of uploads outstanding: a reservation does not know whether its blob was
committed, and the blob's absence does not say so either (a rejected photo is deleted from `photos/`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from shared.errors import Conflict, NotFound, PermanentError
from shared.jobs.ids import job_id_for
from shared.pipeline_settings import PipelineSettings
from shared.uploads import naming
from shared.uploads.ports import Reservation, ReservationStore, SignedUrl, StagedBlock, UploadSigner, UploadState

TTL_SETTING = "SITELENS_UPLOAD_SAS_TTL_S"
MAX_TTL = timedelta(minutes=15)  # a device SAS lives 15 minutes at most (docs/uploads.md#the-sas)
MIN_TTL = timedelta(minutes=1)
# A device's client reserves one photo at a time, just before uploading it, so new reservations come no
# faster than its photos go out: a day's backlog of a photo every 30 s (2,880) drains within the hour, and a
# multi-megabyte photo over a field link takes longer than a second. A loop that mints photo ids stops here.
NEW_PER_DEVICE_HOUR = 3600


# The refusal's reason: a PermanentError, which the API answers 429 with `Retry-After` (`retry_after`).
TOO_MANY_RESERVATIONS = "too_many_reservations"


def window_of(now: datetime) -> datetime:
    """The UTC hour `now` falls in: the window new reservations are counted in."""
    return now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def retry_after(now: datetime) -> timedelta:
    """From `now` to the start of the next window, when a device at its cap may reserve again."""
    return window_of(now) + timedelta(hours=1) - now


@dataclass(frozen=True)
class UploadSettings:
    ttl: timedelta = MAX_TTL
    max_bytes: int = PipelineSettings.max_photo_bytes  # advisory for the device; the pipeline enforces it
    new_per_device_hour: int = NEW_PER_DEVICE_HOUR


@dataclass(frozen=True)
class UploadRequest:
    site_id: str
    device_id: str
    photo_id: str
    ext: str = naming.DEFAULT_EXT

    def __post_init__(self) -> None:
        naming.check_id(self.site_id, "site_id")
        naming.check_id(self.device_id, "device_id")
        naming.check_id(self.photo_id, "photo_id")
        naming.media(self.ext, None)


@dataclass(frozen=True)
class UploadGrant:
    blob_name: str  # inside `photos`
    content_type: str
    created: bool  # this request made the reservation
    upload: SignedUrl | None  # None when the blob is already committed
    job_hint: str  # the job id the photo gets (the status API knows it once ingestion has seen the commit)
    max_bytes: int
    staged: tuple[StagedBlock, ...] = ()  # uncommitted blocks of an interrupted upload

    def public(self) -> dict[str, object]:
        return {
            "blob_name": naming.qualified(self.blob_name),
            "upload_url": self.upload.url if self.upload else None,
            "expires_at": self.upload.expires_at.isoformat() if self.upload else None,
            "content_type": self.content_type,
            "uploaded": self.upload is None,
            "job_hint": self.job_hint,
            "max_bytes": self.max_bytes,
            "staged_blocks": [{"id": b.id, "size": b.size} for b in self.staged],
        }


def _utcnow() -> datetime:
    return datetime.now(UTC)


class UploadService:
    def __init__(
        self,
        reservations: ReservationStore,
        signer: UploadSigner,
        settings: UploadSettings = UploadSettings(),  # frozen: one shared default is safe
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        if settings.ttl > MAX_TTL:
            raise ValueError(f"an upload SAS may live at most {MAX_TTL}")
        if settings.new_per_device_hour < 1:
            raise ValueError("a device must be allowed at least one new reservation an hour")
        self.reservations, self.signer, self.settings, self.clock = reservations, signer, settings, clock

    def request(self, req: UploadRequest) -> UploadGrant:
        now = self.clock()
        ext = naming.media(req.ext, None)[0]
        wanted = Reservation(
            req.site_id, req.device_id, req.photo_id, ext,
            naming.format_name(req.site_id, req.device_id, now.date(), req.photo_id, ext), now,
        )  # fmt: skip
        reservation, created = self._reserve(wanted, now)
        if reservation.ext != ext:
            raise Conflict(
                f"photo {req.photo_id!r} of device {req.device_id!r} was reserved as .{reservation.ext}, not .{ext}",
                reason="photo_id_conflict",
            )
        content_type = naming.CONTENT_TYPES[ext]
        # A new reservation has no blob yet: only a repeat costs the storage read.
        state = UploadState(None) if created else self.signer.upload_state(reservation.blob_name)
        job_hint = job_id_for(reservation.blob_name)
        if state.etag is not None:
            return UploadGrant(reservation.blob_name, content_type, created, None, job_hint, self.settings.max_bytes)
        upload = self.signer.create_only_url(reservation.blob_name, self.settings.ttl)
        return UploadGrant(reservation.blob_name, content_type, created, upload, job_hint, self.settings.max_bytes,
                           state.staged)  # fmt: skip

    def _reserve(self, wanted: Reservation, now: datetime) -> tuple[Reservation, bool]:
        """The stored reservation (a repeat, never counted), or a new one if the device is under its cap."""
        try:
            return self.reservations.get(wanted.site_id, wanted.device_id, wanted.photo_id), False
        except NotFound:
            pass
        if not self.reservations.count_new(wanted.site_id, wanted.device_id, f"{window_of(now):%Y-%m-%dT%H}",
                                           self.settings.new_per_device_hour):  # fmt: skip
            raise PermanentError(
                f"device {wanted.device_id!r} of site {wanted.site_id!r} made {self.settings.new_per_device_hour} "
                "new reservations this hour, the most a device makes; its reserved photos still get their links",
                reason=TOO_MANY_RESERVATIONS,
            )
        # Counted first: a request refused stores nothing. Two racing first requests for the same ids both
        # count, and one of them creates the row: at worst one extra in the count, never one uncounted.
        return self.reservations.reserve(wanted)
