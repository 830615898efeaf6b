"""The checks, in order; each refusal is deterministic and carries a reason code.

1. blob name shape; 2. size from the blob's properties, before any download (empty, too small, too large);
3. magic bytes (JPEG, PNG); 4. dimensions from the header against the pixel and side caps, then the whole
file's structure (scans, components, segments or chunks, packed text) and the decode cost it implies against
the budget; 5. a bounded full decode, in a slot shared fairly between sites; 6. EXIF orientation; 7. quality
flags (rejecting only where the site's policy says so); 8. the re-encoded, upright, metadata-free derived JPEG.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from shared.pipeline_settings import INSTANCE_MEMORY_MB, POSITIVE, PipelineSettings, number
from shared.validation import formats, image, jpeg_structure, png_structure, quality
from shared.validation.limits import Limits, QualityPolicy
from shared.validation.names import parse_name
from shared.validation.reasons import Reason
from shared.validation.slots import FairSlots
from shared.validation.structure import Refusal, Structure, over_budget


class Slots(Protocol):
    """Where a decode waits its turn; `site` is whose turn it counts as, `weight` the memory it takes."""

    def hold(self, site: str, weight: int) -> AbstractContextManager[None]: ...


def decode_memory_budget(instance_memory_mb: int) -> int:
    """Memory for the decodes running at once in one worker, whatever their number: half the instance's.

    Each decode weighs `image.footprint` (a 50 MP photo takes 286 MiB as a baseline JPEG or an RGB PNG, 525 MiB
    as a progressive CMYK JPEG, 762 MiB as a 16-bit RGBA PNG). The instance (`instanceMemoryMB` of Flex
    Consumption, 512, 2,048 or 4,096 MB) holds the Functions host and this worker too: the worker is about 100
    MiB once the app is imported, the .NET host typically a few hundred, and each running invocation (the blob
    trigger runs up to 8 at once) holds its photo's bytes (by default 40 MiB at most) and its derived JPEG. The
    other half is left for all of that. Of 2,048 MB, three 50 MP baseline JPEGs fit at once, four 12 MP ones
    with room to spare, a 16-bit RGBA PNG of 50 MP with little beside it; a photo heavier than the budget runs
    alone.
    """
    return instance_memory_mb * 1024 * 1024 // 2


def decode_slots(env: Mapping[str, str]) -> FairSlots:
    """One worker's decode slots, with the budget of the instance whose memory `env`'s settings state
    (`SITELENS_INSTANCE_MEMORY_MB`). Only that setting is read, as the pipeline's settings read it: this runs as
    the app is imported, where another setting's bad value would raise and the host would register no function.
    The settings refuse any bad value, this one too, when the app uses them: a 503 that /api/health names.

    Decoding is CPU-bound and releases the GIL, so more decodes at once than cores buys no speed, only memory
    (and the instance's share of the cores may be fewer than `os.cpu_count()` says: the budget bounds that).
    The slots are shared fairly between sites, so one sender's queue of slow photos does not hold up every
    other site's (slots.py).
    """
    memory_mb = number(env, INSTANCE_MEMORY_MB, PipelineSettings.instance_memory_mb, [], POSITIVE)
    return FairSlots(max(1, min(4, os.cpu_count() or 1)), decode_memory_budget(memory_mb))


# The worker's own, built once as the app is imported: the Functions host has set the app settings by then.
DECODE_SLOTS = decode_slots(os.environ)


@dataclass(frozen=True)
class Derived:
    jpeg: bytes  # what the task reads: derived/{job_id}/input.jpg
    sha256_of_original: str  # hex; the per-site content dedupe key
    format: str  # of the original
    orientation: int  # the EXIF orientation that was applied
    quality: quality.Quality


@dataclass(frozen=True)
class Accepted:
    derived: Derived


@dataclass(frozen=True)
class Rejected:
    reason: Reason
    detail: str


Verdict = Accepted | Rejected


def validate(blob_name: str, size: int, read: Callable[[], bytes], limits: Limits, policy: QualityPolicy, *,
             slots: Slots = DECODE_SLOTS) -> Verdict:  # fmt: skip
    """Validate one photo; `read` downloads it (bounded by `limits.max_bytes`) and is called at most once."""
    name = parse_name(blob_name)
    if name is None:
        return Rejected(Reason.INVALID_NAME, "not a name the upload API issues: site/device/yyyy/mm/dd/id.jpg|png")
    if size == 0:
        return Rejected(Reason.EMPTY_FILE, "the blob has no bytes")
    if size < limits.min_bytes:
        return Rejected(Reason.TOO_SMALL, f"{size} bytes; a photo has at least {limits.min_bytes}")
    if size > limits.max_bytes:
        return Rejected(Reason.TOO_LARGE, f"{size} bytes; the limit is {limits.max_bytes}")
    return check_bytes(read(), limits, policy, site=name.site, slots=slots)


def check_bytes(  # noqa: PLR0911 (one per check)
    data: bytes, limits: Limits, policy: QualityPolicy, *, site: str = "", slots: Slots = DECODE_SLOTS
) -> Verdict:
    """Steps 3-8 on bytes already bounded by size; `site` is whose turn the decode slot counts as."""
    kind = formats.sniff(data)
    if kind not in formats.DECODABLE:
        return Rejected(Reason.UNSUPPORTED_TYPE, f"the bytes are {kind}; only JPEG and PNG are accepted")
    header = formats.read_header(data)
    if header is None:
        return Rejected(Reason.CORRUPT_IMAGE, f"the {kind.upper()} header is damaged or has no frame size")
    pixels_count = header.width * header.height
    if pixels_count > limits.max_pixels or max(header.width, header.height) > limits.max_side:
        return Rejected(Reason.IMAGE_TOO_LARGE, f"{header.width}x{header.height} is over the cap of "
                        f"{limits.max_pixels:,} pixels or {limits.max_side} per side")  # fmt: skip
    structure = _survey(data, header, limits)
    if isinstance(structure, Refusal):
        return Rejected(structure.reason, structure.detail)
    refusal = over_budget(structure, header, limits)
    if refusal is not None:
        return Rejected(refusal.reason, refusal.detail)
    with slots.hold(site, image.footprint(data, header, structure)):  # pixels in memory: within the budget
        try:
            pixels = image.upright(image.decode(data, header), header.orientation)
        except image.DecodeFailed as exc:
            return Rejected(Reason.CORRUPT_IMAGE, str(exc))
        measured = quality.measure(pixels, policy)
        for flag in measured.flags:
            if flag in policy.reject:
                return Rejected(Reason(flag), f"{flag} (the site rejects on it): {measured}")
        try:
            jpeg = image.encode_jpeg(pixels, limits.derived_quality)
        except image.DecodeFailed as exc:
            return Rejected(Reason.CORRUPT_IMAGE, str(exc))
    digest = hashlib.sha256(data).hexdigest()
    return Accepted(Derived(jpeg, digest, header.format, header.orientation, measured))


def _survey(data: bytes, header: formats.Header, limits: Limits) -> Structure | Refusal:
    if header.format == formats.JPEG:
        return jpeg_structure.survey(data, limits.max_scans)
    return png_structure.survey(data, header)
