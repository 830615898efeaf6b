"""What a file will cost to decode, read from its structure before any decoder runs.

The header gives the size; the decode time also grows with what follows it. A progressive JPEG is decoded
once per scan over every block of the components the scan names, whatever the scan holds, so a few hundred
kilobytes of repeated scans can keep a decoder busy for minutes. A PNG's compressed text is inflated by
libpng while it reads the header, a few megabytes at a time per chunk. `jpeg_structure` and `png_structure`
walk the whole file (bounded: each step skips to the next marker or chunk in C, and every count they keep
is capped), refuse what no camera or editor writes, and estimate the decode cost for the budget in
`Limits`.

Looked at and not refused: APPn/COM segments and PNG ancillary chunks far larger than the image (the
decoder skips them, the derived JPEG drops them, and the byte cap bounds them; phones carry megabytes of
XMP depth maps and gain maps), quantisation and Huffman table definitions (read once, a few hundred bytes
each: their number is bounded by the segment cap), and restart intervals (each restart is two bytes of
the file and constant work for the decoder, so the byte cap bounds them).
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.validation.formats import Header
from shared.validation.limits import Limits
from shared.validation.reasons import Reason


@dataclass(frozen=True)
class Structure:
    scans: int  # JPEG scans (SOS markers); 1 for a PNG
    decode_cost: int  # the estimate `Limits.max_decode_cost` bounds (units in docs/reason-codes.md)


@dataclass(frozen=True)
class Refusal:
    reason: Reason
    detail: str


def over_budget(structure: Structure, header: Header, limits: Limits) -> Refusal | None:
    if structure.decode_cost <= limits.max_decode_cost:
        return None
    return Refusal(Reason.DECODE_TOO_COSTLY, f"decoding this {header.width}x{header.height} {header.format.upper()} "
                   f"({structure.scans} scans) would cost {structure.decode_cost:,} units; the budget is "
                   f"{limits.max_decode_cost:,}")  # fmt: skip


def corrupt(detail: str) -> Refusal:
    return Refusal(Reason.CORRUPT_IMAGE, detail)


def abnormal(detail: str) -> Refusal:
    return Refusal(Reason.ABNORMAL_STRUCTURE, detail)
