"""The JPEG marker walk to the end of the image: the frame's components, every scan, and the decode cost.

libjpeg decodes a progressive JPEG scan by scan into a whole-image coefficient buffer, visiting every block
of each component a scan names even when the scan carries no bits for it (an end-of-band run skips a block
in a few nanoseconds, but it still visits it). So the cost of a decode is the blocks of the frame times the
scans, not the bytes of the file: 20,000 repeated scans of a 7000 x 7000 image fit in 400 KB and decode for
over a minute. The walk counts scans by skipping each scan's entropy-coded data to the next marker with one
regular-expression search (in C, linear in the bytes), so the whole walk is one pass over the file plus a
Python step per marker segment, and both counts are capped. Padding between segments is read as libjpeg reads
it: a run of fill bytes is skipped in one search, and each restart marker, TEM or stuffed zero counts as a
segment, so a file of nothing else meets the segment cap.

The walk also tells what the decode holds in memory (`JpegStructure.buffered_samples`): libjpeg keeps the
coefficients of a progressive JPEG, or of one whose first scan names only some of its components, for the
whole image until its last scan, and decodes any other a row of blocks at a time.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from shared.validation import formats, jpeg_segments
from shared.validation.jpeg_segments import SOS, Damaged
from shared.validation.reasons import Reason
from shared.validation.structure import Refusal, Structure, abnormal, corrupt

# Grey 1, YCbCr 3, CMYK or YCCK 4; the format allows 255, and each component is another image to decode.
MAX_COMPONENTS = 4
# Marker segments other than scans (why this many: formats.py, whose header walk stops at the same count).
MAX_SEGMENTS = formats.MAX_SEGMENTS

_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # frame headers; C4 (DHT), C8, CC (DAC) are not
# Progressive frames, Huffman and arithmetic coded (C6 and CE are too, but hierarchical: never decoded).
_PROGRESSIVE = frozenset({0xC2, 0xCA})


@dataclass(frozen=True)
class JpegStructure(Structure):
    # Samples of all the frame's components (whole blocks) when libjpeg decodes through a whole-image buffer of
    # their DCT coefficients, 2 bytes each: a progressive frame, or a first scan that names only some of the
    # components (libjpeg's `has_multiple_scans`). 0 when it decodes a row of blocks at a time.
    buffered_samples: int = 0


def survey(data: bytes, max_scans: int) -> JpegStructure | Refusal:  # noqa: PLR0911 (one per outcome)
    """Scans and decode cost (samples decoded over all scans, plus the output pass) of a JPEG, and the samples
    its decode buffers."""
    frame: dict[int, int] | None = None  # component id -> samples (whole blocks) of that component
    scans = cost = segments = samples = 0  # samples: of the frame, all its components
    buffered = progressive = False
    try:
        for marker, start, end in jpeg_segments.segments(data):
            segments += marker != SOS  # scans have their own cap, checked below
            if segments > MAX_SEGMENTS:
                return abnormal(f"more than {MAX_SEGMENTS:,} marker segments; a photo has a few dozen")
            if marker in _SOF:
                parsed = _frame(data[start:end]) if frame is None else corrupt("the JPEG has two frame headers")
                if isinstance(parsed, Refusal):
                    return parsed
                frame, progressive, samples = parsed, marker in _PROGRESSIVE, sum(parsed.values())
                cost += samples  # inverse DCT, upsampling and colour conversion: once per sample
            elif marker == SOS:
                covered = _scan(data[start:end], frame)
                if isinstance(covered, Refusal):
                    return covered
                scans += 1
                if scans == 1:
                    buffered = progressive or covered < samples
                if scans > max_scans:
                    return Refusal(Reason.TOO_MANY_SCANS, f"more than {max_scans} scans (counting stopped "
                                   "there); cameras write 1, or about 10 when progressive")  # fmt: skip
                cost += covered
    except Damaged as exc:
        return corrupt(str(exc))
    if frame is None or scans == 0:
        return corrupt("the JPEG has no frame header or no scan")
    return JpegStructure(scans, cost, samples if buffered else 0)


def _frame(body: bytes) -> dict[int, int] | Refusal:
    """Samples per component, in whole 8 x 8 blocks, at the component's own sampling."""
    if len(body) < 6:
        return corrupt("the JPEG frame header is cut short")
    height, width, count = struct.unpack_from(">HHB", body, 1)
    if count > MAX_COMPONENTS:
        return abnormal(f"{count} colour components; a photo has 1, 3 or 4")
    if count == 0 or len(body) != 6 + 3 * count or not width or not height:
        return corrupt("the JPEG frame header is malformed")
    sampling = {body[6 + 3 * n]: (body[7 + 3 * n] >> 4, body[7 + 3 * n] & 0x0F) for n in range(count)}
    if len(sampling) != count or any(not 1 <= h <= 4 or not 1 <= v <= 4 for h, v in sampling.values()):
        return corrupt("the JPEG frame header has repeated components or bad sampling factors")
    h_max = max(h for h, _ in sampling.values())
    v_max = max(v for _, v in sampling.values())
    return {ident: _blocks(width * h, h_max) * _blocks(height * v, v_max) * 64 for ident, (h, v) in sampling.items()}


def _blocks(scaled: int, factor_max: int) -> int:
    return ((scaled + factor_max - 1) // factor_max + 7) // 8  # ceil(ceil(scaled / factor_max) / 8)


def _scan(body: bytes, frame: dict[int, int] | None) -> int | Refusal:
    """The samples a scan visits: every block of each component it names."""
    if frame is None:
        return corrupt("image data before any frame header")
    count = body[0] if body else 0
    if not 1 <= count <= 4 or len(body) != 4 + 2 * count:
        return corrupt("a JPEG scan header is malformed")
    components = [body[1 + 2 * n] for n in range(count)]
    if any(ident not in frame for ident in components):
        return corrupt("a JPEG scan names a component the frame does not have")
    return sum(frame[ident] for ident in components)
