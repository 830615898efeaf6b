"""The rejection reasons of ingestion, in the order the checks run (documented in docs/reason-codes.md)."""

from __future__ import annotations

import enum


class Reason(enum.StrEnum):
    INVALID_NAME = "invalid_name"  # the blob name is not one the upload API issues
    EMPTY_FILE = "empty_file"  # zero bytes
    TOO_SMALL = "too_small"  # fewer bytes than any real photo has
    TOO_LARGE = "too_large"  # more bytes than the byte cap
    UNSUPPORTED_TYPE = "unsupported_type"  # the bytes are not JPEG or PNG (HEIC, WebP, GIF, text, ...)
    IMAGE_TOO_LARGE = "image_too_large"  # the header's dimensions exceed the pixel or side cap
    TOO_MANY_SCANS = "too_many_scans"  # a JPEG with more scans than any encoder writes (a scan bomb)
    ABNORMAL_STRUCTURE = "abnormal_structure"  # components, segments, chunks or packed text no encoder writes
    DECODE_TOO_COSTLY = "decode_too_costly"  # the decode cost estimated from the structure is over the budget
    CORRUPT_IMAGE = "corrupt_image"  # the header is damaged, or the full decode fails (truncated, garbage)
    BLURRY = "blurry"  # quality flags: only when the site's policy rejects on them
    UNDER_EXPOSED = "under_exposed"
    OVER_EXPOSED = "over_exposed"
    LOW_RESOLUTION = "low_resolution"
