"""The refusals whose photo is deleted rather than copied to `quarantine/`, and the blob-type rule.

A photo refused for its size (`too_large`) can be any size a device wrote (a SAS cannot cap it), and a copy
would keep it twice for the quarantine's retention. Every other refusal of a block blob is of a photo within
the byte cap, and is what quarantine keeps photos for; only `invalid_name` comes before the size check, and no
device's SAS can write a name the upload API does not issue.

Block blobs only (`not_block_blob`): a device's upload commits a block blob, but its SAS (`cw`, docs/uploads.md)
cannot fix the type: Put Blob can create the name as a page or an append blob, and Put Page or Append Block
(`w`) fill it. Storage lifecycle management acts on block and append blobs only, so a page blob, valid photo or
not, would stay in `photos/` for good, and so would a copy of it in `quarantine/` (a copy keeps the type). So
the type is checked first, from the blob's properties, before a byte is read, and such a photo is deleted,
never copied. An append blob would expire, but no sitelens client writes one either: one rule refuses both.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from shared.errors import NotFound, TransientError
from shared.jobs.models import Job
from shared.jobs.ports import BlobInfo, PhotoStore
from shared.validation import Reason

BLOCK_BLOB = "BlockBlob"  # as storage names the type (x-ms-blob-type)
NOT_BLOCK_BLOB = "not_block_blob"
# The end of a not-kept job's `detail`, by its reason: on the job before the delete, so a crash between them
# leaves it true.
NOTES = {
    Reason.TOO_LARGE.value: "; the photo was deleted, not kept in quarantine (refused for its size)",
    NOT_BLOCK_BLOB: "; the photo was deleted, not kept in quarantine (refused for its blob type)",
}
NOT_KEPT = frozenset(NOTES)
SWEEPS = 3  # deletes of one name's later versions that another write may race before the delivery is retried


@dataclass(frozen=True)
class Refused:
    """A refusal from the blob's properties, shaped as validation's `Rejected` (its `reason` a plain code)."""

    reason: str
    detail: str


def refusal(info: BlobInfo) -> Refused | None:
    """`not_block_blob` for a blob of any type but the one an upload writes; None for a block blob."""
    if info.blob_type == BLOCK_BLOB:
        return None
    # The code spelled out, as every reason is where it is raised: tests/unit/jobs/test_reason_codes.py finds it.
    return Refused(reason="not_block_blob", detail=f"the photo is stored as {info.blob_type}, not as a block blob; "
                   "an upload commits a block blob, and storage never expires a page blob")  # fmt: skip


def discard(photos: PhotoStore, job: Job) -> None:
    """A not-kept job's version deleted with its snapshots, no copy kept. Safe to repeat: NotFound (an earlier
    run deleted it) is no error. After a blob that is not a block blob, its later versions are deleted too."""
    with contextlib.suppress(NotFound):
        photos.discard(job.blob_name, job.blob_etag)
    if job.reason == NOT_BLOCK_BLOB:
        # Put Page and Append Block write new versions of the same blob without a BlobCreated event: no delivery
        # comes for what the device wrote after ingestion looked, and the pinned delete above left it.
        sweep(photos, job.blob_name)


def sweep(photos: PhotoStore, blob_name: str) -> None:
    """Delete what is under `blob_name` while it is not a block blob, version by version (each delete pinned to
    the version just read). A block blob stays: a write that makes one raises a BlobCreated event of its own, and
    the lifecycle rules expire it. A name still rewritten after `SWEEPS` deletes raises TransientError, so the
    delivery is retried (the upload SAS that lets the device rewrite it expires within 15 minutes)."""
    for _ in range(SWEEPS):
        if (info := _not_block_blob(photos, blob_name)) is None:
            return
        with contextlib.suppress(NotFound):  # that version is gone already: the next read finds what replaced it
            photos.discard(blob_name, info.etag)
    if _not_block_blob(photos, blob_name) is not None:
        raise TransientError(f"photo {blob_name} is still rewritten as a blob storage never expires; retrying")


def _not_block_blob(photos: PhotoStore, blob_name: str) -> BlobInfo | None:
    """What is under the name now when it is not a block blob; None when it is one, or nothing is there."""
    try:
        info = photos.photo_info(blob_name)
    except NotFound:
        return None
    return None if refusal(info) is None else info
