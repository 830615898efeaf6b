"""What the bytes are, from their first bytes and headers only: no decoder runs here.

`sniff` names the format from its magic number (trust the bytes, not the name or the Content-Type), and a JPEG
from its frame header when it is one the decoder cannot read; `read_header` walks the JPEG segments (at most
`MAX_SEGMENTS` of them) or PNG chunks up to the image data and returns the stored size and the EXIF orientation,
so an oversized image is refused before anything allocates for its pixels.

The JPEG walk is the structure walk's (`jpeg_segments`), so both read the bytes between segments as libjpeg
reads them.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from shared.validation import jpeg_segments
from shared.validation.jpeg_segments import SOS, Damaged

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
_APP1 = 0xE1
_EXIF = b"Exif\x00\x00"
# Frames libjpeg never decodes: hierarchical (differential) ones, and lossless with arithmetic coding. Through
# the 8-bit API OpenCV calls, it reads lossy frames of 8-bit samples only, and lossless Huffman ones (C3) of 2
# to 8 bits (RGB ones: it converts no other colour space of a lossless image, so the decode refuses those).
_HIERARCHICAL = frozenset({0xC5, 0xC6, 0xC7, 0xCD, 0xCE, 0xCF})
_LOSSLESS, _LOSSLESS_ARITHMETIC = 0xC3, 0xCB
_ORIENTATION_TAG = 0x0112
# JPEG marker segments walked. A real file has a dozen or two, plus an ICC profile in up to 255 APP2 segments
# and XMP extensions of 64 KB each (about 640 of them fill the byte cap); tables are redefined at most once or
# twice per scan. Past this count the file is padding, and the walk stops (here and in `jpeg_structure`).
MAX_SEGMENTS = 4096


def sniff(data: bytes) -> str:  # noqa: PLR0911 (one answer per format reads best)
    """`jpeg`, `png`, or the name of what it is instead (`heic`, `webp`, `gif`, `text`, `unknown`, `12-bit JPEG`,
    ...)."""
    if data.startswith(b"\xff\xd8\xff"):
        return _jpeg_kind(data)
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


@dataclass(frozen=True)
class _Frame:
    marker: int  # which SOFn: the coding process
    precision: int  # bits per sample
    width: int
    height: int
    orientation: int


def _jpeg(data: bytes) -> Header | None:
    frame = _jpeg_frame(data)
    return None if frame is None else Header(JPEG, frame.width, frame.height, frame.orientation)


def _jpeg_kind(data: bytes) -> str:
    """`jpeg`, or the name of a JPEG the decoder refuses whatever its data: OpenCV reads 8-bit samples only."""
    frame = _jpeg_frame(data)
    if frame is None:
        return JPEG  # a damaged header, which read_header refuses
    if frame.marker in _HIERARCHICAL:
        return "hierarchical JPEG"
    if frame.marker == _LOSSLESS_ARITHMETIC:
        return "arithmetic-coded lossless JPEG"
    if frame.marker == _LOSSLESS:
        return JPEG if 2 <= frame.precision <= 8 else f"{frame.precision}-bit lossless JPEG"
    return JPEG if frame.precision == 8 else f"{frame.precision}-bit JPEG"


def _jpeg_frame(data: bytes) -> _Frame | None:
    """The frame header, with the orientation of the first EXIF block before it (the one OpenCV and Pillow read);
    None when the header is damaged, or not within the first `MAX_SEGMENTS` segments."""
    orientation: int | None = None
    segments = 0
    try:
        for marker, start, end in jpeg_segments.segments(data):
            if marker == SOS:
                return None  # image data before any frame header
            segments += 1  # restart markers, TEM and stuffed zeros too: padding meets the cap
            if segments > MAX_SEGMENTS and marker not in _SOF:
                return None  # and still no frame header: padding, which the structure walk would refuse anyway
            if marker == _APP1 and orientation is None and data.startswith(_EXIF, start, end):
                orientation = exif_orientation(data[start + len(_EXIF) : end])
            if marker in _SOF:
                if end - start < 5:
                    return None
                precision, height, width = struct.unpack_from(">BHH", data, start)
                return _Frame(marker, precision, width, height, orientation or 1) if width and height else None
    except Damaged:
        return None
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
        if tag == _ORIENTATION_TAG and kind in (3, 4):  # SHORT, stored left-aligned in the value field
            # or LONG, which the standard does not allow but some writers use and OpenCV and Pillow honour:
            # reading it as upright would turn the derived image unlike every viewer
            (orientation,) = struct.unpack(order + ("H" if kind == 3 else "I"), value[: 2 if kind == 3 else 4])
            return orientation if 1 <= orientation <= 8 else 1
    return 1
