"""`POST /api/uploads`: reserve the photo's blob name once, then sign a create-only URL for exactly that blob.

The name is `photos/{site}/{device}/{yyyy}/{mm}/{dd}/{photo_id}.{ext}` with the UTC date of the *first*
request, kept in a reservation (create-if-absent), so a device that retries — minutes or days later — gets
the same name. The pipeline's job id comes from that name alone, so every reply names the job
(`job_hint`) before anything is uploaded, and duplicate uploads collapse into it.

When the blob is already committed the reply carries no URL (the device is done; this also shortens the
window in which the write permission could overwrite it). Otherwise a repeat lists the blocks an
interrupted upload left staged (`staged_blocks`), so the device sends only the rest: its SAS cannot read
the block list itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from shared.errors import Conflict
from shared.jobs.ids import job_id_for
from shared.pipeline_settings import PipelineSettings
from shared.uploads import naming
from shared.uploads.ports import Reservation, ReservationStore, SignedUrl, StagedBlock, UploadSigner, UploadState

TTL_SETTING = "SITELENS_UPLOAD_SAS_TTL_S"
MAX_TTL = timedelta(minutes=15)  # a device SAS lives 15 minutes at most (docs/uploads.md#the-sas)
MIN_TTL = timedelta(minutes=1)


@dataclass(frozen=True)
class UploadSettings:
    ttl: timedelta = MAX_TTL
    max_bytes: int = PipelineSettings.max_photo_bytes  # advisory for the device; the pipeline enforces it


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
        self.reservations, self.signer, self.settings, self.clock = reservations, signer, settings, clock

    def request(self, req: UploadRequest) -> UploadGrant:
        now = self.clock()
        ext = naming.media(req.ext, None)[0]
        wanted = Reservation(
            req.site_id, req.device_id, req.photo_id, ext,
            naming.format_name(req.site_id, req.device_id, now.date(), req.photo_id, ext), now,
        )  # fmt: skip
        reservation, created = self.reservations.reserve(wanted)
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
