"""The PNG chunk walk to IEND: the chunk count, the compressed metadata libpng inflates, and the decode cost.

libpng inflates zTXt, compressed iTXt and iCCP chunks while it reads the header, up to 8 MB per chunk and
1,000 chunks, before a single pixel: a 2 MB file of such chunks kept OpenCV's decoder busy for seconds.
Their inflated size cannot be known without inflating them, so the walk inflates them itself, bounded by
what it allows in total (stopping as soon as that is passed). The image data itself is not inflated here:
its size follows from the header.

OpenCV's PNG reader reserves and zero-fills a chunk's declared length (up to 4 GiB) before it finds that the
file is shorter: a 6 KB file declaring a 2 GB IDAT took 2 GB of memory to refuse. A chunk that runs past the
end of the file is refused here, before any decoder sees it.
"""

from __future__ import annotations

import struct
import zlib

from shared.validation.formats import Header
from shared.validation.structure import Refusal, Structure, abnormal, corrupt

# An encoder writes the image data in chunks of 8 KB (libpng) to 1 MB, or one per row at worst: 20,000 rows
# at the side cap. Past this count the file is padding, and the walk stops.
MAX_CHUNKS = 100_000
# Compressed text and ICC profile, inflated, in total. Cameras and editors write kilobytes (an ICC profile,
# XMP); an editor's XMP history can reach a few megabytes. Past this it is a text bomb.
MAX_METADATA_INFLATED = 16 * 1024 * 1024
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # grey, RGB, palette, grey + alpha, RGBA
_COMPRESSED = frozenset({b"zTXt", b"iTXt", b"iCCP"})


def survey(data: bytes, header: Header) -> Structure | Refusal:
    """Decode cost: bytes of image data inflated (twice for an interlaced image), compressed metadata
    inflated, and the output samples."""
    depth, colour, _, _, interlace = struct.unpack_from(">BBBBB", data, 24)
    channels = _CHANNELS.get(colour)
    if channels is None or depth not in (1, 2, 4, 8, 16):
        return corrupt(f"the PNG header has colour type {colour} at depth {depth}")
    metadata = chunks = 0
    i = 8
    while i + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, i)
        chunks += 1
        if chunks > MAX_CHUNKS:
            return abnormal(f"more than {MAX_CHUNKS:,} PNG chunks; an encoder writes a few hundred")
        start, end = i + 8, i + 8 + length
        if end > len(data):  # what OpenCV would reserve is then bounded by the file's size
            return corrupt(f"the PNG chunk {kind.decode('latin-1')!r} at byte {i} declares {length:,} bytes, "
                           f"past the end of the file ({len(data):,} bytes)")  # fmt: skip
        if kind == b"IEND":
            break
        if kind in _COMPRESSED:
            metadata += _inflated(data, kind, start, end, MAX_METADATA_INFLATED + 1 - metadata)
            if metadata > MAX_METADATA_INFLATED:
                return abnormal(f"the PNG's compressed text and profile inflate to more than "
                                f"{MAX_METADATA_INFLATED:,} bytes")  # fmt: skip
        i = end + 4  # and its CRC
    row = 1 + (header.width * channels * depth + 7) // 8  # a filter byte, then the packed samples
    image_data = header.height * row * (2 if interlace else 1)  # Adam7 measured at up to twice the work
    return Structure(1, image_data + metadata + header.width * header.height * 3)


_STEP = 64 * 1024  # inflated bytes per step; what a bad stream's last step made is not counted


def _inflated(data: bytes, kind: bytes, start: int, end: int, room: int) -> int:
    """Bytes the chunk's compressed payload inflates to, counted up to `room`; 0 when it is not compressed."""
    keyword_end = data.find(b"\x00", start, end)
    if keyword_end < 0:
        return 0  # malformed: libpng warns and skips it
    payload = keyword_end + 2  # zTXt and iCCP: the keyword, its NUL, the compression method
    if kind == b"iTXt":
        if keyword_end + 1 >= end or data[keyword_end + 1] == 0:
            return 0  # not compressed: its size is its length, bounded by the byte cap
        language_end = data.find(b"\x00", keyword_end + 3, end)
        translated_end = data.find(b"\x00", language_end + 1, end) if language_end >= 0 else -1
        if translated_end < 0:
            return 0
        payload = translated_end + 1
    inflater, pending, produced = zlib.decompressobj(), data[payload:end], 0
    try:  # a step at a time: a stream that turns bad after inflating megabytes still cost those megabytes
        while pending and produced < room and not inflater.eof:
            produced += len(inflater.decompress(pending, min(room - produced, _STEP)))
            pending = inflater.unconsumed_tail
    except zlib.error:
        pass  # libpng inflates up to the error too, then warns and skips the chunk
    return produced
