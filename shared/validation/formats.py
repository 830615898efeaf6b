"""What the bytes are, from their first bytes and headers only: no decoder runs here.

`sniff` names the format from its magic number (trust the bytes, not the name or the Content-Type);
`read_header` walks the JPEG segments (at most `MAX_SEGMENTS` of them) or PNG chunks up to the image data and
returns the stored size and the EXIF orientation, so an oversized image is refused before anything allocates
for its pixels.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

JPEG, PNG = "jpeg", "png"
DECODABLE = frozenset({JPEG, PNG})
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_HEIF_BRANDS = {b"heic": "heic", b"heix": "heic", b"hevc": "heic", b"hevx": "heic", b"heim": "heic",
                b"heis": "heic", b"mif1": "heif", b"msf1": "heif", b"avif": "avif", b"avis": "avif"}  # fmt: skip
_MAGIC = (
    (b"GIF87a", "gif"), (b"GIF89a", "gif"), (b"II*\x00", "tiff"), (b"MM\x00*", "tiff"), (b"BM", "bmp"),
    (b"%PDF", "pdf"), (b"PK\x03\x04", "zip"), (b"\x00\x00\x01\x00", "ico"),
)  # fmt: skip
# JPEG start-of-frame markers (baseline, progressive, lossless, arithmetic); C4, C8 and CC are not frames.
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_STANDALONE = frozenset(range(0xD0, 0xD8)) | {0x01}
_SOS, _APP1 = 0xDA, 0xE1
_ORIENTATION_TAG = 0x0112
# JPEG marker segments walked. A real file has a dozen or two, plus an ICC profile in up to 255 APP2 segments
# and XMP extensions of 64 KB each (about 640 of them fill the byte cap); tables are redefined at most once or
# twice per scan. Past this count the file is padding, and the walk stops (here and in `jpeg_structure`).
MAX_SEGMENTS = 4096
_NOT_FILL = re.compile(rb"[^\xff]")


def sniff(data: bytes) -> str:  # noqa: PLR0911 (one answer per format reads best)
    """`jpeg`, `png`, or the name of what it is instead (`heic`, `webp`, `gif`, `text`, `unknown`, ...)."""
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith(_PNG_SIGNATURE):
        return PNG
    if data[4:8] == b"ftyp":
        return _HEIF_BRANDS.get(data[8:12], "iso-media")
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            return kind
    head = data[:512].lstrip()
    if head.startswith(b"<"):
        return "markup"  # SVG, HTML, XML
    if head and all(32 <= b < 127 or b in (9, 10, 13) for b in head):
        return "text"
    return "unknown"


@dataclass(frozen=True)
class Header:
    format: str
    width: int  # as stored, before EXIF orientation
    height: int
    orientation: int = 1  # EXIF 1-8; 1 is upright


def read_header(data: bytes) -> Header | None:
    """The stored size and orientation of a JPEG or PNG, or None when its header is damaged or absent."""
    if data.startswith(_PNG_SIGNATURE):
        return _png(data)
    if data.startswith(b"\xff\xd8"):
        return _jpeg(data)
    return None


def skip_fill(data: bytes, i: int) -> int:
    """Where the run of 0xFF fill bytes at `i` ends: its last byte, which starts the next marker. One search in
    C however long the run: a Python step per fill byte made a file of nothing else cost seconds."""
    found = _NOT_FILL.search(data, i)
    return (found.start() if found else len(data)) - 1


def _jpeg(data: bytes) -> Header | None:  # noqa: PLR0911 (one per way a header can fail)
    orientation = 1
    i, segments = 2, 0
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill bytes: followed by a marker, which is counted, or by the end
            i = skip_fill(data, i)
            continue
        if marker == 0x00:
            return None  # a stuffed zero where a marker belongs: libjpeg would search past it, we do not guess
        if segments == MAX_SEGMENTS and marker not in _SOF:
            return None  # and still no frame header: padding, which the structure walk would refuse anyway
        segments += 1
        if marker in _STANDALONE:
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if length < 2 or marker == _SOS:
            return None  # a broken segment, or image data before any frame header
        segment = data[i + 4 : i + 2 + length]
        if marker == _APP1 and segment.startswith(b"Exif\x00\x00"):
            orientation = exif_orientation(segment[6:])
        if marker in _SOF:
            if len(segment) < 5:
                return None
            height, width = struct.unpack(">HH", segment[1:5])
            return Header(JPEG, width, height, orientation) if width and height else None
        i += 2 + length
    return None


def _png(data: bytes) -> Header | None:
    if len(data) < 24 or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    if not width or not height:
        return None
    orientation = 1
    i = 8
    while i + 8 <= len(data):  # eXIf must come before the image data; stop at the first IDAT
        (length,) = struct.unpack(">I", data[i : i + 4])
        kind = data[i + 4 : i + 8]
        if kind == b"IDAT":
            break
        if kind == b"eXIf":
            orientation = exif_orientation(data[i + 8 : i + 8 + length])
        i += 12 + length
    return Header(PNG, width, height, orientation)


def exif_orientation(tiff: bytes) -> int:
    """The Orientation tag (0x0112) of IFD0 in a TIFF-structured EXIF block; 1 when absent or malformed."""
    if tiff[:4] not in (b"II*\x00", b"MM\x00*") or len(tiff) < 8:
        return 1
    order = "<" if tiff[:2] == b"II" else ">"
    (ifd,) = struct.unpack(order + "I", tiff[4:8])
    if ifd + 2 > len(tiff):
        return 1
    (count,) = struct.unpack(order + "H", tiff[ifd : ifd + 2])
    for n in range(min(count, 512)):  # a real IFD0 has a few dozen entries; the cap bounds a hostile one
        entry = ifd + 2 + 12 * n
        if entry + 12 > len(tiff):
            return 1
        tag, kind, _, value = struct.unpack(order + "HHI4s", tiff[entry : entry + 12])
        if tag == _ORIENTATION_TAG and kind == 3:  # SHORT, stored left-aligned in the value field
            (orientation,) = struct.unpack(order + "H", value[:2])
            return orientation if 1 <= orientation <= 8 else 1
    return 1
