"""The caps validation enforces and the per-site quality policy."""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.pipeline_settings import PipelineSettings


@dataclass(frozen=True)
class Limits:
    min_bytes: int = 1024  # a real photo of any useful size is larger; below this it is a stub or a probe
    # SITELENS_MAX_PHOTO_BYTES and _PIXELS: their defaults, stated once (the download is bounded by the bytes too)
    max_bytes: int = PipelineSettings.max_photo_bytes
    max_pixels: int = PipelineSettings.max_photo_pixels
    max_side: int = 20_000  # a panorama strip of 1 x 50M pixels is not a photo (and JPEG stops at 65,535)
    derived_quality: int = 90  # JPEG quality of the re-encoded input the task reads
    # Cameras write one scan (baseline) or libjpeg's progressive script: 10 scans for colour, 6 for grey;
    # mozjpeg's optimised scripts stay well under 30. 64 leaves twice that margin. The format allows some
    # 2,700 distinct scans and repeats as well, each a full pass over the image, so only a cap stops a scan
    # bomb.
    max_scans: int = 64
    # Decode cost (docs/reason-codes.md: samples each scan visits plus the output pass for a JPEG, bytes
    # inflated plus output samples for a PNG): 40 passes over a 50 MP image. libjpeg's progressive 4:4:4
    # script costs 17 of them (under a second for 50 MP), a 30-scan mozjpeg file about 35; a file with
    # more makes one delivery hold a decode slot for seconds on end.
    max_decode_cost: int = 40 * 50_000_000


@dataclass(frozen=True)
class QualityPolicy:
    """Which quality flags reject a photo (per site); flags are always recorded either way."""

    reject: frozenset[str] = field(default_factory=frozenset)
    min_sharpness: float = 25.0  # variance of the Laplacian on the working image; text edges score far above
    dark_mean: float = 35.0  # mean luminance (0-255) below this: under-exposed
    bright_mean: float = 240.0  # above this: over-exposed (white paper in daylight sits around 220-235)
    clipped_fraction: float = 0.5  # or more than this share of pixels at the clip point
    min_short_side: int = 480  # below this the text is too small to read
