"""The JPEG marker segments, read as libjpeg reads them: one walk for the header (`formats`) and for the whole
structure (`jpeg_structure`), so the two never disagree on where a segment is.

Padding between segments is skipped as libjpeg skips it: a run of fill bytes in one search, and stray bytes (a
CR LF, the end of a segment whose declared length is short) to the next marker, with a warning from libjpeg and
none from us. A scan's entropy-coded data is skipped to the marker that ends it with one regular-expression
search, so the walk is one pass over the file plus a Python step per segment.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator

SOS, EOI = 0xDA, 0xD9
_STANDALONE = frozenset(range(0xD0, 0xD8)) | {0x01}  # RSTn and TEM carry no length
_NOT_FILL = re.compile(rb"[^\xff]")
# Inside entropy-coded data 0xFF is followed by 0x00 (a stuffed byte), a restart marker D0-D7 or another
# 0xFF (fill); anything else is a marker, and ends the scan.
_END_OF_SCAN = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


class Damaged(ValueError):
    """A segment whose declared length runs past the end of the file."""


def skip_fill(data: bytes, i: int) -> int:
    """Where the run of 0xFF fill bytes at `i` ends: its last byte, which starts the next marker. One search in
    C however long the run: a Python step per fill byte made a file of nothing else cost seconds."""
    found = _NOT_FILL.search(data, i)
    return (found.start() if found else len(data)) - 1


def segments(data: bytes) -> Iterator[tuple[int, int, int]]:
    """(marker, body start, body end) of each marker segment up to the end of the image; a scan's body is its
    header, and the walk goes on at the marker that ends its entropy-coded data. A restart marker, TEM or
    stuffed zero between segments comes with an empty body. Raises `Damaged`."""
    i = 2
    while i + 2 <= len(data):
        if data[i] != 0xFF:  # stray bytes between segments: libjpeg skips them to the next marker, and so do we
            found = _END_OF_SCAN.search(data, i)
            if found is None:
                return
            i = found.start()
        marker = data[i + 1]
        if marker == 0xFF:  # fill bytes: followed by a marker, which is counted, or by the end
            i = skip_fill(data, i)
            continue
        if marker in _STANDALONE or marker == 0x00:  # a restart, TEM or stuffed zero: no segment follows
            # (a stuffed zero is no marker: libjpeg discards it and searches on, and so do we, never reading it as a
            # segment whose length would hide the scans after it); each counts as one toward the segment cap
            yield marker, i + 2, i + 2
            i += 2
            continue
        if marker == EOI or i + 4 > len(data):
            return  # the end, or cut short (the decoder says so)
        (length,) = struct.unpack_from(">H", data, i + 2)
        end = i + 2 + length
        if length < 2 or end > len(data):
            raise Damaged(f"a JPEG segment at byte {i} runs past the end of the file")
        yield marker, i + 4, end
        if marker != SOS:
            i = end
            continue
        found = _END_OF_SCAN.search(data, end)
        if found is None:
            return  # the data runs to the end of the file: cut short, and the decoder says so
        i = found.start()
