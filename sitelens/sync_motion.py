"""Whether a JPEG that may carry a trailer after its image is whole (for sitelens/sync_settler.py).

A phone's "motion photo" appends a video after the image's end marker: Samsung's trailer ends with its own
directory, Google's XMP gives its length (a Container directory, or the older MicroVideoOffset). Such a photo is
whole only once all it declares is there, so one cut anywhere, even right after its image, waits. Only the header
segments, the last bytes and, where a trailer is declared, the image once are read.

The XMP is whatever the file says, so reading it costs at most a few steps per byte of it whatever it holds: a
directory's items are only its own rdf:Seq's children, a few levels deep, and a bounded number of them; numbers
longer than any file's size are not read. A structure that cannot be followed declares nothing: the end marker
decides, and a photo never stops the agent.
"""

from __future__ import annotations

import itertools
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO
from xml.etree import ElementTree

# JPEG markers. In a scan's entropy-coded data 0xFF is followed by 0x00 (a stuffed byte), a restart marker D0-D7
# or another 0xFF (fill); anything else is a marker, and ends the scan.
SOS, EOI, APP1 = 0xDA, 0xD9, 0xE1
NO_LENGTH = frozenset(range(0xD0, 0xD8)) | {0x00, 0x01, 0xFF}  # restarts, TEM, a stuffed zero, fill
END_OF_SCAN = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
MAX_SEGMENTS = 4096  # marker segments walked: a photo has a few dozen, a few hundred with ICC or XMP extensions
CHUNK = 1 << 20  # entropy-coded data is searched a MiB at a time
EXIF, XMP = b"Exif\x00\x00", b"http://ns.adobe.com/xap/1.0/\x00"  # APP1 signatures; the XMP packet is < 64 KiB
CAMERA = "{http://ns.google.com/photos/1.0/camera/}"
CONTAINER = "{http://ns.google.com/photos/1.0/container/}"
ITEM = "{http://ns.google.com/photos/1.0/container/item/}"
RDF_SEQ, RDF_LI = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}Seq", "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}li"
# A length or offset: 18 digits count up to an exabyte; a longer number is no file's (and int() refuses > 4,300).
COUNT = re.compile(r"[0-9]{1,18}")
MAX_ITEMS = 16  # a directory lists the image, a video and perhaps a gain map: more than this declares nothing
ITEM_DEPTH = 3  # an item's fields sit on its rdf:li, its Container:Item, or that one's rdf:Description or elements
ITEM_ELEMENTS = 32  # elements in one item: a handful; an item with more declares nothing


def jpeg_is_whole(handle: BinaryIO, size: int, marked: bool) -> bool:
    """A JPEG is whole when it ends with a consistent Samsung trailer, or when exactly what its XMP declares
    follows its image; one that declares nothing, when it ends with its end marker (`marked`). A read that fails
    is the caller's to judge; a structure that cannot be followed declares nothing."""
    try:
        return _declared_is_whole(handle, size, marked)
    except OSError:
        raise
    except Exception:  # noqa: BLE001 - one photo's odd structure must not stop every upload: the end marker decides
        return marked


def _declared_is_whole(handle: BinaryIO, size: int, marked: bool) -> bool:
    head = _read_head(handle, size)
    if head is None:
        return marked  # no camera header to follow: the end marker decides, as it always has
    if head.scan is None:
        return False  # the file ends inside or right after its Exif or XMP segment: the image is still coming
    if _samsung_trailer_is_whole(handle, size, head.scan):
        return True
    declared = declared_trailer(head.xmp)
    if declared is None:
        return marked
    return declared > 0 and _image_ends_at(handle, size - declared, head.scan)


@dataclass(frozen=True)
class JpegHead:
    scan: int | None  # where the first scan's marker is; None when the file ends before it, after its metadata
    xmp: bytes  # the standard XMP packet, or empty


def _read_head(handle: BinaryIO, size: int) -> JpegHead | None:
    """The header segments up to the first scan, a segment header at a time (and the XMP packet); None when
    there is no structure to follow (a broken segment, or the file ending before its image with no Exif or XMP
    segment seen: only those show a camera's header, rather than bytes that happen to start like one)."""
    pos, xmp, metadata = 2, b"", False
    for _ in range(MAX_SEGMENTS):
        handle.seek(pos)
        header = handle.read(4)
        if len(header) < 4:
            break  # the file ends between two segments
        marker, length = header[1], int.from_bytes(header[2:], "big")
        if header[0] != 0xFF or marker in NO_LENGTH or marker == EOI or length < 2:
            return None
        if marker == SOS:
            return JpegHead(pos, xmp)
        if marker == APP1:
            signature = handle.read(min(length - 2, len(XMP)))
            metadata = metadata or signature.startswith(EXIF) or signature == XMP
            if signature == XMP and not xmp:
                xmp = handle.read(length - 2 - len(XMP))
        pos += 2 + length
        if pos > size:
            break  # the file ends inside this segment
    else:
        return None  # more segments than any photo has
    return JpegHead(None, xmp) if metadata else None


def declared_trailer(xmp: bytes) -> int | None:
    """How many bytes the XMP says follow the image: its Container directory's items after the first (the image
    itself), with every item's padding, or else the older MicroVideoOffset. None when it declares nothing; 0
    for a motion photo whose video it does not place (Samsung's may list only a gain map: its trailer decides).
    """
    start, end = xmp.find(b"<"), xmp.rfind(b">")
    if start < 0 or b"<!DOCTYPE" in xmp or b"<!ENTITY" in xmp:
        return None  # an XMP packet has no document type; one that does is not parsed, so nothing is expanded
    try:
        root = ElementTree.fromstring(xmp[start : end + 1])  # noqa: S314 (no DTD, checked above; under 64 KiB)
    except (ElementTree.ParseError, LookupError, ValueError):  # not well-formed, or an encoding expat cannot read
        return None  # (Python does not know it, or it is multi-byte, such as shift_jis)
    camera = _camera(root)
    motion = camera.get("MotionPhoto") == "1" or camera.get("MicroVideo") == "1"
    items = _directory_items(root)
    counts = [_count(item.get("Length")) for item in items[1:]] + [_count(item.get("Padding", "0")) for item in items]
    sizes = [count for count in counts if count is not None]
    video = any(item.get("Semantic") == "MotionPhoto" for item in items)
    if items[1:] and len(sizes) == len(counts) and sum(sizes) > 0 and (video or not motion):
        return sum(sizes)
    offset = _count(camera.get("MicroVideoOffset"))  # Google's first format: the video is the last N bytes
    if offset:
        return offset
    return 0 if motion else None


def _directory_items(root: ElementTree.Element) -> list[dict[str, str]]:
    """The Container directories' items, each read from an rdf:li that is a child of the directory's own rdf:Seq
    (never a search of the subtree below, which nested directories would make quadratic); none when there are
    more than MAX_ITEMS, or one of them is larger than any item is."""
    listed = (
        li
        for directory in root.iter(f"{CONTAINER}Directory")
        for seq in directory
        if seq.tag == RDF_SEQ
        for li in seq
        if li.tag == RDF_LI
    )
    items = [_item(li) for li in itertools.islice(listed, MAX_ITEMS + 1)]
    read = [item for item in items if item is not None]
    return read if len(read) == len(items) <= MAX_ITEMS else []


def _item(li: ElementTree.Element) -> dict[str, str] | None:
    """A directory item's fields, written as attributes or as elements (XMP allows both), at most ITEM_DEPTH
    levels below its rdf:li; None when it holds more than ITEM_ELEMENTS elements there."""
    near = list(itertools.islice(_near(li, ITEM_DEPTH), ITEM_ELEMENTS + 1))
    if len(near) > ITEM_ELEMENTS:
        return None
    fields: dict[str, str] = {}
    for element in near:
        fields |= {key.removeprefix(ITEM): value for key, value in element.attrib.items() if key.startswith(ITEM)}
        if element.tag.startswith(ITEM):
            fields[element.tag.removeprefix(ITEM)] = (element.text or "").strip()
    return fields


def _near(element: ElementTree.Element, depth: int) -> Iterator[ElementTree.Element]:
    """The element, then those at most `depth` levels below it, in document order; lazily, so a reader that
    stops early has walked no further."""
    yield element
    if depth > 0:
        for child in element:
            yield from _near(child, depth - 1)


def _camera(root: ElementTree.Element) -> dict[str, str]:
    """The Camera properties, each name's first value in document order, written as an attribute or an element
    (one walk of the packet)."""
    found: dict[str, str] = {}
    for element in root.iter():
        for key, value in element.attrib.items():
            if key.startswith(CAMERA) and value:
                found.setdefault(key.removeprefix(CAMERA), value.strip())
        if element.tag.startswith(CAMERA) and element.text:
            found.setdefault(element.tag.removeprefix(CAMERA), element.text.strip())
    return found


def _count(text: str | None) -> int | None:
    return int(text) if text is not None and COUNT.fullmatch(text) else None


def _samsung_trailer_is_whole(handle: BinaryIO, size: int, scan: int) -> bool:
    """Whether the file ends with a consistent Samsung trailer: its blocks, then a directory ("SEFH", a version,
    a count, and per block its type, its distance back from the directory and its length), the directory's
    length and "SEFT". Each block must lie between the image's header and the directory, begin with two zero
    bytes and its type, and the first must follow an end marker. A few bytes are read per block."""
    if size < scan + 20:
        return False
    handle.seek(size - 8)
    end = handle.read(8)
    length = int.from_bytes(end[:4], "little")
    at = size - 8 - length
    if end[4:] != b"SEFT" or not 12 <= length < 0x10000 or at <= scan:
        return False
    handle.seek(at)
    directory = handle.read(length)
    count = int.from_bytes(directory[8:12], "little")
    if len(directory) < length or not directory.startswith(b"SEFH") or not 0 < count <= (length - 12) // 12:
        return False
    first = at
    for _, kind, back, block_length in struct.iter_unpack("<HHII", directory[12 : 12 + 12 * count]):
        if not 8 <= block_length <= back < at - scan:
            return False
        handle.seek(at - back)
        block = handle.read(8)
        if block[:4] != struct.pack("<HH", 0, kind) or 8 + int.from_bytes(block[4:], "little") > block_length:
            return False
        first = min(first, at - back)
    handle.seek(first - 2)
    return handle.read(2) == b"\xff\xd9"


def _image_ends_at(handle: BinaryIO, end: int, scan: int) -> bool:
    """Whether the image's own end marker ends at `end`. The two bytes there are checked first, so a file still
    arriving costs no more; then the image is walked to its end marker, never searched for one (an embedded
    thumbnail ends with the same two bytes)."""
    if end < scan + 4:
        return False
    handle.seek(end - 2)
    return handle.read(2) == b"\xff\xd9" and _image_end(handle, scan, end) == end


def _image_end(handle: BinaryIO, pos: int, limit: int) -> int | None:
    """Just past the image's end marker, walking from its first scan: each segment by its length, each scan's
    entropy-coded data to the marker that ends it. None when it is not found before `limit`."""
    for _ in range(MAX_SEGMENTS):
        handle.seek(pos)
        header = handle.read(4)
        if header[:2] == b"\xff\xd9" and pos + 2 <= limit:
            return pos + 2
        if len(header) < 4 or pos + 4 > limit:
            return None
        if header[0] != 0xFF or header[1] in NO_LENGTH:  # stray bytes, fill or a restart: on to the next marker
            found = _next_marker(handle, pos + 1, limit)
        else:
            after = pos + 2 + int.from_bytes(header[2:], "big")
            found = _next_marker(handle, after, limit) if header[1] == SOS else after
        if found is None:
            return None
        pos = found
    return None


def _next_marker(handle: BinaryIO, pos: int, limit: int) -> int | None:
    while pos + 2 <= limit:
        handle.seek(pos)
        chunk = handle.read(min(CHUNK, limit - pos))
        found = END_OF_SCAN.search(chunk)
        if found is not None:
            return pos + found.start()
        if len(chunk) < 2:
            return None
        pos += len(chunk) - 1  # the chunk's last byte may be a marker's 0xFF
    return None
