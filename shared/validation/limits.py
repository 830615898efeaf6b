"""The caps validation enforces and the per-site quality policy."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Limits:
    min_bytes: int = 1024  # a real photo of any useful size is larger; below this it is a stub or a probe
    max_bytes: int = 40 * 1024 * 1024  # above any phone JPEG; the download is bounded by it too
    max_pixels: int = 50_000_000  # 50 MP: above any phone camera in the field, far below a bomb
    max_side: int = 20_000  # a panorama strip of 1 x 50M pixels is not a photo (and JPEG stops at 65,535)
    derived_quality: int = 90  # JPEG quality of the re-encoded input the task reads


@dataclass(frozen=True)
class QualityPolicy:
    """Which quality flags reject a photo (per site); flags are always recorded either way."""

    reject: frozenset[str] = field(default_factory=frozenset)
    min_sharpness: float = 25.0  # variance of the Laplacian on the working image; text edges score far above
    dark_mean: float = 35.0  # mean luminance (0-255) below this: under-exposed
    bright_mean: float = 240.0  # above this: over-exposed (white paper in daylight sits around 220-235)
    clipped_fraction: float = 0.5  # or more than this share of pixels at the clip point
    min_short_side: int = 480  # below this the text is too small to read
