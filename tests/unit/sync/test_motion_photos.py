"""Motion photos in the drop folder: a real JPEG with a video after its end marker, declared by Google's XMP (a
Container directory, or the older MicroVideoOffset) or by a Samsung trailer, is whole once everything it
declares is there, and not one byte sooner; plain JPEGs and PNGs keep their rule."""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from batch_tasks.ocr.opencv import cv2
from sitelens.sync_settler import is_whole
from tests.unit.sync.fakes import make_rig, status
from tests.unit.sync.test_incomplete_and_moves import passes


def jpeg(height: int, width: int, *flags: int) -> bytes:
    """A real JPEG, as an encoder writes it; small, since every cut of a motion photo is tried."""
    pixels = np.random.default_rng(height).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return bytes(cv2.imencode(".jpg", pixels, list(flags))[1].tobytes())


PHOTO, GAIN_MAP, THUMBNAIL = jpeg(24, 32), jpeg(12, 16), jpeg(8, 8)
# Ten scans with tables between them, and a restart marker after every block row: more for the walk to skip.
PROGRESSIVE = jpeg(24, 32, cv2.IMWRITE_JPEG_PROGRESSIVE, 1, cv2.IMWRITE_JPEG_RST_INTERVAL, 1)
RDF = 'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"'
GOOGLE = (
    'xmlns:Camera="http://ns.google.com/photos/1.0/camera/" '
    'xmlns:Container="http://ns.google.com/photos/1.0/container/" '
    'xmlns:Item="http://ns.google.com/photos/1.0/container/item/"'
)


def video(length: int) -> bytes:
    """An MP4's start, then bytes that hold end markers followed by padding, as compressed video may."""
    body = np.random.default_rng(length).integers(0, 256, length, dtype=np.uint8).tobytes()
    body = body.replace(b"\x00", b"\xff\xd9\x00\x00")[: length - 12]
    return struct.pack(">I", 24) + b"ftypmp42" + body


def app1(body: bytes) -> bytes:
    return b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body


def with_metadata(description: str | None = None, photo: bytes = PHOTO, prolog: str = "") -> bytes:
    """The photo with an Exif segment holding a thumbnail (its own end marker), then XMP with `description`
    (`prolog` before the packet)."""
    exif = app1(b"Exif\x00\x00II*\x00\x08\x00\x00\x00" + THUMBNAIL)
    if description is None:
        return photo[:2] + exif + photo[2:]
    xmp = (
        f'{prolog}<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
        f'<rdf:RDF {RDF}><rdf:Description rdf:about="" {GOOGLE} {description}</rdf:Description></rdf:RDF>'
        '</x:xmpmeta><?xpacket end="w"?>'
    )
    return photo[:2] + exif + app1(b"http://ns.adobe.com/xap/1.0/\x00" + xmp.encode()) + photo[2:]


def directory(*items: str) -> str:
    listed = "".join(f'<rdf:li rdf:parseType="Resource">{item}</rdf:li>' for item in items)
    return f"<Container:Directory><rdf:Seq>{listed}</rdf:Seq></Container:Directory>"


def google_motion_photo(padding: int = 0, photo: bytes = PHOTO) -> bytes:
    clip = video(1500)
    items = directory(
        f'<Container:Item Item:Mime="image/jpeg" Item:Semantic="Primary" Item:Length="0" Item:Padding="{padding}"/>',
        f'<Container:Item Item:Mime="video/mp4" Item:Semantic="MotionPhoto" Item:Length="{len(clip)}"/>',
    )
    declared = with_metadata(f'Camera:MotionPhoto="1" Camera:MotionPhotoVersion="1">{items}', photo)
    return declared + bytes(padding) + clip


def google_ultra_hdr_motion_photo() -> bytes:
    """Primary, gain map and video, the directory written as elements rather than attributes."""
    gain_map, clip = GAIN_MAP, video(900)

    def item(semantic: str, length: int) -> str:
        fields = f"<Item:Semantic>{semantic}</Item:Semantic><Item:Length>{length}</Item:Length>"
        return f'<Container:Item rdf:parseType="Resource">{fields}</Container:Item>'

    items = directory(item("Primary", 0), item("GainMap", len(gain_map)), item("MotionPhoto", len(clip)))
    return with_metadata(f"><Camera:MotionPhoto>1</Camera:MotionPhoto>{items}") + gain_map + clip


def google_ultra_hdr() -> bytes:
    """An Ultra HDR photo: no video, but a gain map its directory declares after the image."""
    gain_map = GAIN_MAP
    items = directory(
        '<Container:Item Item:Mime="image/jpeg" Item:Semantic="Primary"/>',
        f'<Container:Item Item:Mime="image/jpeg" Item:Semantic="GainMap" Item:Length="{len(gain_map)}"/>',
    )
    return with_metadata(f">{items}") + gain_map


def google_micro_video() -> bytes:
    clip = video(1200)
    return with_metadata(f'Camera:MicroVideo="1" Camera:MicroVideoOffset="{len(clip)}">') + clip


def samsung_trailer() -> bytes:
    """Blocks (two zero bytes, type, name length, name, data), then the directory, its length and "SEFT"."""
    blocks = [(0x0A01, b"Image_UTC_Data", b"1700000000000"), (0x0A30, b"MotionPhoto_Data", video(1300))]
    data, entries = b"", []
    for kind, name, payload in blocks:
        block = struct.pack("<HHI", 0, kind, len(name)) + name + payload
        entries.append((kind, len(data), len(block)))
        data += block
    listed = b"".join(struct.pack("<HHII", 0, kind, len(data) - start, size) for kind, start, size in entries)
    sef = b"SEFH" + struct.pack("<II", 106, len(entries)) + listed
    return data + sef + struct.pack("<I", len(sef)) + b"SEFT"


def samsung_trailer_of_another_type() -> bytes:
    """A trailer whose directory names a type its video block does not carry: not Samsung's, or damaged."""
    trailer = samsung_trailer()
    at = trailer.index(b"MotionPhoto_Data") - 6
    return trailer[:at] + b"\x31" + trailer[at + 1 :]


def samsung_motion_photo() -> bytes:
    trailer = samsung_trailer()  # Samsung's MicroVideoOffset counts its whole trailer
    return with_metadata(f'Camera:MicroVideo="1" Camera:MicroVideoOffset="{len(trailer)}">') + trailer


DECLARED: dict[str, Callable[[], bytes]] = {
    "google container": google_motion_photo,
    "google container, padded image": lambda: google_motion_photo(padding=37),
    "google container, progressive image": lambda: google_motion_photo(photo=PROGRESSIVE),
    "google ultra hdr, elements": google_ultra_hdr_motion_photo,
    "google micro video": google_micro_video,
    "google ultra hdr, no video": google_ultra_hdr,
    "samsung trailer and micro video": samsung_motion_photo,
}


@pytest.mark.parametrize("build", DECLARED.values(), ids=DECLARED.keys())
def test_a_motion_photo_is_whole_complete_and_not_whole_cut_anywhere(tmp_path: Path, build: Callable[[], bytes]):
    data, photo = build(), tmp_path / "MVIMG_0001.jpg"
    photo.write_bytes(data)
    assert is_whole(str(photo))
    whole_too_soon = []
    for size in range(len(data) - 1, 2, -1):  # from one byte short down to the signature: each cut a transfer makes
        os.truncate(photo, size)
        if is_whole(str(photo)):
            whole_too_soon.append(size)
    assert whole_too_soon == []


@pytest.mark.parametrize(
    ("content", "whole"),
    [
        (with_metadata() + samsung_trailer(), True),  # no XMP: the trailer's own directory says it is all there
        ((with_metadata() + samsung_trailer())[:-1], False),
        ((with_metadata() + samsung_trailer())[:-8], False),  # all but the directory's length and "SEFT"
        (with_metadata() + samsung_trailer()[:500], False),
        (with_metadata() + samsung_trailer_of_another_type(), False),
        (with_metadata(), True),  # a plain JPEG with Exif and a thumbnail: its end marker, as ever
        (with_metadata() + bytes(64), True),
        (with_metadata()[: 20 + len(THUMBNAIL)], False),  # cut right after the thumbnail's end marker
        (with_metadata('Camera:MotionPhoto="1">'), False),  # says it holds a video, and none is declared
        (with_metadata(f'Camera:MicroVideoOffset="{len(video(50))}">') + video(50)[:-1], False),
        (with_metadata("><!-- no directory -->"), True),  # XMP that declares nothing: the end marker decides
        (PHOTO + video(300), False),  # data after the end marker that nothing declares: as before, it waits
    ],
)
def test_a_declared_trailer_decides_and_a_plain_jpeg_keeps_its_end_marker_rule(tmp_path, content, whole):
    (tmp_path / "IMG.jpg").write_bytes(content)
    assert is_whole(str(tmp_path / "IMG.jpg")) is whole


@pytest.mark.parametrize(
    "prolog",
    [
        '<!DOCTYPE x [<!ENTITY a "1111111111"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>',
        '<?xml version="1.0" encoding="no-such-codec"?>',
        '<?xml version="1.0" encoding="shift_jis"?>',  # known to Python, but multi-byte: expat refuses it
    ],
    ids=["a document type", "an unknown encoding", "a multi-byte encoding"],
)
def test_xmp_that_cannot_be_read_safely_declares_nothing(tmp_path, prolog):
    clip = video(400)
    data = with_metadata(f'Camera:MicroVideoOffset="{len(clip)}">', prolog=prolog) + clip
    (tmp_path / "IMG.jpg").write_bytes(data)
    assert not is_whole(str(tmp_path / "IMG.jpg"))  # not parsed: the end marker decides, and a video follows it
    (tmp_path / "IMG.jpg").write_bytes(data.replace(prolog.encode(), b" " * len(prolog)))
    assert is_whole(str(tmp_path / "IMG.jpg"))  # the same XMP without it declares the video


def test_the_agent_sends_a_motion_photo_at_once_and_holds_one_cut_short(tmp_path):
    agent, service, clock, folder = make_rig(tmp_path)
    google, samsung = google_motion_photo(), samsung_motion_photo()
    (folder / "PXL_0001.MP.jpg").write_bytes(google)
    (folder / "20240809_211700.jpg").write_bytes(samsung)
    (folder / "PXL_0002.MP.jpg").write_bytes(google[: len(google) - 1500])  # the image whole, the video not yet
    passes(agent, clock, 2)
    assert sorted(service.sent) == ["20240809_211700.jpg", "PXL_0001.MP.jpg"]
    cut = str(folder / "PXL_0002.MP.jpg")
    assert status(agent)["settling"] == [{"path": cut, "size": len(google) - 1500, "incomplete": True}]
