"""Which photos in the drop folder are ready to send: listed, settled, and whole (sitelens/sync_agent.py).

A file is settled once its size and mtime have held for `settle_s` on the agent's clock. That alone misses a
transfer that pauses for longer (an FTP upload over Wi-Fi that stalls mid-file), so a settled file must also
be whole: a PNG ends with its IEND chunk, a JPEG with its end-of-image marker, unless it declares what follows
it: a phone's "motion photo" appends a video (Samsung's trailer ends with its own directory, Google's XMP gives
its length) and is whole only once all of it is there, so one cut anywhere, even right after its image, waits.
Only the header segments, the last bytes and, where a trailer is declared, the image once are read; a version
found whole is not read again. A file that never becomes whole (a photo truncated for good, an empty file) is
sent anyway once it has not changed for `incomplete_s`, so that the service refuses it and it does not wait
forever.
"""

from __future__ import annotations

import os
import re
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from xml.etree import ElementTree

from sitelens.upload import EXTENSIONS, MAGIC

# A truncated photo is sent after this long unchanged, to be refused: an upload that stalls for longer than ten
# minutes is not coming back, and a run with --once (restarted by a timer) counts it by the file's mtime.
INCOMPLETE_S = 600.0
# The end each format must have. After it, a camera may pad the file with zeros or 0xFF fill bytes: skipped.
ENDS = {"jpg": b"\xff\xd9", "png": b"IEND\xaeB`\x82"}
PADDING = b"\x00\xff"
TAIL = 4096  # the last bytes read: the end marker and any padding a camera adds after it

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
RDF_LI = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}li"


def list_photos(folder: Path) -> dict[str, tuple[int, int]]:
    """Path → (size, mtime_ns) of the folder's photos; hidden files and other types are not ours."""
    found: dict[str, tuple[int, int]] = {}
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith(".") or Path(entry.name).suffix.lower() not in EXTENSIONS:
                continue
            try:
                if entry.is_file(follow_symlinks=False):
                    stat = entry.stat(follow_symlinks=False)
                    found[entry.path] = (stat.st_size, stat.st_mtime_ns)
            except FileNotFoundError:  # deleted while listing
                continue
    return found


def is_whole(path: str) -> bool:
    """Whether the file ends as its format must: a PNG with its IEND chunk, a JPEG as `_jpeg_is_whole` says.
    A file that is no JPEG or PNG at all is not waited for (the service refuses it), nor is one that cannot be
    read (the upload reports it as `unreadable`); one too short to tell what it is may still grow."""
    try:
        with Path(path).open("rb") as handle:
            head = handle.read(max(len(magic) for magic, _ in MAGIC))
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - TAIL))
            tail = handle.read(TAIL)
            for magic, ext in MAGIC:
                if head.startswith(magic):
                    marked = tail.rstrip(PADDING).endswith(ENDS[ext])  # its end marker, then at most padding
                    return _jpeg_is_whole(handle, size, marked) if ext == "jpg" else marked
                if magic.startswith(head):  # empty, or the signature itself half written
                    return False
    except OSError:
        return True
    return True


def _jpeg_is_whole(handle: BinaryIO, size: int, marked: bool) -> bool:
    """A JPEG is whole when it ends with a consistent Samsung trailer, or when exactly what its XMP declares
    follows its image; one that declares nothing, when it ends with its end marker (`marked`)."""
    head = _read_head(handle, size)
    if head is None:
        return marked  # no camera header to follow: the end marker decides, as it always has
    if head.scan is None:
        return False  # the file ends inside or right after its Exif or XMP segment: the image is still coming
    if _samsung_trailer_is_whole(handle, size, head.scan):
        return True
    declared = _declared_trailer(head.xmp)
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


def _declared_trailer(xmp: bytes) -> int | None:
    """How many bytes the XMP says follow the image: its Container directory's items after the first (the image
    itself), with every item's padding, or else the older MicroVideoOffset. None when it declares nothing; 0
    for a motion photo whose video it does not place (Samsung's may list only a gain map: its trailer decides).
    """
    start, end = xmp.find(b"<"), xmp.rfind(b">")
    if start < 0 or b"<!DOCTYPE" in xmp or b"<!ENTITY" in xmp:
        return None  # an XMP packet has no document type; one that does is not parsed, so nothing is expanded
    try:
        root = ElementTree.fromstring(xmp[start : end + 1])  # noqa: S314 (no DTD, checked above; under 64 KiB)
    except (ElementTree.ParseError, LookupError):  # not well-formed, or in an encoding Python does not know
        return None
    motion = _camera(root, "MotionPhoto") == "1" or _camera(root, "MicroVideo") == "1"
    items = [_item(li) for directory in root.iter(f"{CONTAINER}Directory") for li in directory.iter(RDF_LI)]
    counts = [_count(item.get("Length")) for item in items[1:]] + [_count(item.get("Padding", "0")) for item in items]
    sizes = [count for count in counts if count is not None]
    video = any(item.get("Semantic") == "MotionPhoto" for item in items)
    if items[1:] and len(sizes) == len(counts) and sum(sizes) > 0 and (video or not motion):
        return sum(sizes)
    offset = _count(_camera(root, "MicroVideoOffset"))  # Google's first format: the video is the last N bytes
    if offset:
        return offset
    return 0 if motion else None


def _item(li: ElementTree.Element) -> dict[str, str]:
    """A directory item's fields, written as attributes or as elements (XMP allows both)."""
    fields: dict[str, str] = {}
    for element in li.iter():
        fields |= {key.removeprefix(ITEM): value for key, value in element.attrib.items() if key.startswith(ITEM)}
        if element.tag.startswith(ITEM):
            fields[element.tag.removeprefix(ITEM)] = (element.text or "").strip()
    return fields


def _camera(root: ElementTree.Element, name: str) -> str | None:
    for element in root.iter():
        value = element.get(CAMERA + name) or (element.text if element.tag == CAMERA + name else None)
        if value:
            return value.strip()
    return None


def _count(text: str | None) -> int | None:
    return int(text) if text is not None and text.isascii() and text.isdigit() else None


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


class Settler:
    """Which files have stopped changing (the same size and mtime for `settle_s`, on the agent's clock) and are
    whole, or have not changed for `incomplete_s` (on the agent's clock, or by their mtime on the wall clock)."""

    def __init__(self, settle_s: float, incomplete_s: float = INCOMPLETE_S,
                 wall: Callable[[], float] = time.time) -> None:  # fmt: skip
        self.settle_s, self.incomplete_s, self.wall = settle_s, incomplete_s, wall
        self.since: dict[str, tuple[int, int, float]] = {}  # path → (size, mtime_ns, first seen so)
        self.whole: set[tuple[str, int, int]] = set()  # versions found whole: their end is not read again
        self.incomplete: set[str] = set()  # settled by time, but their end is missing: held back

    def observe(self, files: dict[str, tuple[int, int]], now: float) -> list[tuple[str, int, int]]:
        self.since = {p: s for p, s in self.since.items() if p in files}
        self.whole = {v for v in self.whole if files.get(v[0]) == v[1:]}
        self.incomplete = set()
        settled = []
        for path, (size, mtime_ns) in sorted(files.items()):
            known = self.since.get(path)
            if known is None or known[:2] != (size, mtime_ns):
                self.since[path] = (size, mtime_ns, now)
            elif now - known[2] >= self.settle_s:
                if self._whole(path, size, mtime_ns) or self._given_up(known, now):
                    settled.append((path, size, mtime_ns))
                else:
                    self.incomplete.add(path)
        return settled

    def unsettled(self, settled: list[tuple[str, int, int]]) -> list[dict[str, Any]]:
        done = {p for p, _, _ in settled}
        return [{"path": p, "size": s[0], **({"incomplete": True} if p in self.incomplete else {})}
                for p, s in sorted(self.since.items()) if p not in done]  # fmt: skip

    def _whole(self, path: str, size: int, mtime_ns: int) -> bool:
        if (path, size, mtime_ns) in self.whole:
            return True
        if not is_whole(path):
            return False
        self.whole.add((path, size, mtime_ns))
        return True

    def _given_up(self, known: tuple[int, int, float], now: float) -> bool:
        return now - known[2] >= self.incomplete_s or self.wall() - known[1] / 1e9 >= self.incomplete_s
