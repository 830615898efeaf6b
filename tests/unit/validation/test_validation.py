"""The validator's checks, in order, each with its reason code; and the derived JPEG it produces."""

from __future__ import annotations

import hashlib
import io
import zipfile

import numpy as np
import pytest
from PIL import Image, ImageOps

from batch_tasks.ocr.opencv import cv2
from shared.validation import Accepted, Limits, QualityPolicy, Reason, Rejected, formats, image, parse_name, validate
from tests.integration.ocr.photos import jpeg, paper
from tests.unit.validation.images import heic_header, ink_on_transparent, png_bomb, sign, sign_jpeg, with_exif

NAME = "north-yard/cam-1/2026/11/22/IMG_0001.jpg"
LIMITS = Limits()
POLICY = QualityPolicy()


def run(data: bytes, name: str = NAME, limits: Limits = LIMITS, policy: QualityPolicy = POLICY):
    return validate(name, len(data), lambda: data, limits, policy)


def accepted(data: bytes, **kw) -> Accepted:
    verdict = run(data, **kw)
    assert isinstance(verdict, Accepted), verdict
    return verdict


def rejected(data: bytes, **kw) -> Rejected:
    verdict = run(data, **kw)
    assert isinstance(verdict, Rejected), verdict
    return verdict


@pytest.mark.parametrize(
    "name",
    ["north-yard/cam-1/2026/11/22/../x.jpg", "north-yard/cam-1/2026/13/22/x.jpg", "a/b/2026/11/22/x.gif",
     "a/b/c/2026/11/22/x.jpg", "a/b/2026/11/22/x\x01.jpg", "a/b/2026/11/22/.jpg", "-a/b/2026/11/22/x.jpg",
     "a/b/2026/11/22/" + "x" * 65 + ".jpg", "a\\b/2026/11/22/x.jpg", "a/b/2026/11/22/x.jpg/"],
)  # fmt: skip
def test_names_the_upload_api_does_not_issue_are_refused_before_any_read(name):
    def read() -> bytes:
        raise AssertionError("read before the name was checked")

    verdict = validate(name, 5000, read, LIMITS, POLICY)
    assert isinstance(verdict, Rejected) and verdict.reason is Reason.INVALID_NAME


def test_a_valid_name_parses_into_its_parts():
    name = parse_name("north-yard/cam-1/2026/11/22/IMG_0001.png")
    assert name is not None and (name.site, name.device, name.photo_id, name.ext) == (
        "north-yard",
        "cam-1",
        "IMG_0001",
        "png",
    )
    assert str(name.day) == "2026-11-22"


@pytest.mark.parametrize(("size", "reason"), [(0, Reason.EMPTY_FILE), (100, Reason.TOO_SMALL),
                                              (LIMITS.max_bytes + 1, Reason.TOO_LARGE)])  # fmt: skip
def test_the_size_from_blob_properties_refuses_without_downloading(size, reason):
    def read() -> bytes:
        raise AssertionError("downloaded a blob whose size already refused it")

    verdict = validate(NAME, size, read, LIMITS, POLICY)
    assert isinstance(verdict, Rejected) and verdict.reason is reason


@pytest.mark.parametrize(
    ("data", "kind"),
    [(heic_header(), "heic"), (b"RIFF\x00\x10\x00\x00WEBPVP8 " + b"\x00" * 3000, "webp"),
     (b"GIF89a" + b"\x00" * 3000, "gif"), (b"II*\x00" + b"\x00" * 3000, "tiff"),
     (b"<svg xmlns='http://www.w3.org/2000/svg'>" + b" " * 3000 + b"</svg>", "markup"),
     (b"hello, not a photo " * 200, "text"), (bytes(range(256)) * 20, "unknown")],
)  # fmt: skip
def test_only_jpeg_and_png_bytes_are_accepted_whatever_the_name_says(data, kind):
    verdict = rejected(data)
    assert verdict.reason is Reason.UNSUPPORTED_TYPE and kind in verdict.detail
    assert formats.sniff(data) == kind


def test_a_decompression_bomb_is_refused_from_its_header():
    bomb = png_bomb(32_000)  # ~1 GPixel when decoded, a few hundred KB on disk
    assert len(bomb) < 1_000_000
    verdict = rejected(bomb, name=NAME.replace(".jpg", ".png"))
    assert verdict.reason is Reason.IMAGE_TOO_LARGE and "32000x32000" in verdict.detail


def test_a_long_strip_under_the_pixel_cap_is_refused_by_the_side_cap():
    verdict = rejected(jpeg(paper(200, 1000)), limits=Limits(max_side=500))
    assert verdict.reason is Reason.IMAGE_TOO_LARGE and "1000x200" in verdict.detail


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.99])
def test_a_truncated_jpeg_is_a_corrupt_image(keep):
    data = sign_jpeg()
    verdict = rejected(data[: int(len(data) * keep)])
    assert verdict.reason is Reason.CORRUPT_IMAGE


def test_a_jpeg_without_a_frame_header_and_a_png_without_data_are_corrupt():
    assert rejected(b"\xff\xd8\xff\xe0\x00\x10JFIF" + b"\x00" * 2000).reason is Reason.CORRUPT_IMAGE
    header_only = png_bomb(64)[:33] + b"\x00" * 2000
    assert rejected(header_only, name=NAME.replace(".jpg", ".png")).reason is Reason.CORRUPT_IMAGE


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_once_as_pillow_applies_it(orientation):
    pixels = sign(320, 200)
    data = with_exif(pixels, orientation=orientation)
    derived = accepted(data).derived
    assert derived.orientation == orientation
    ours = cv2.imdecode(np.frombuffer(derived.jpeg, np.uint8), cv2.IMREAD_COLOR)
    theirs = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))))[:, :, ::-1]
    assert ours.shape == theirs.shape
    assert np.abs(ours.astype(int) - theirs.astype(int)).mean() < 3  # the same picture, re-encoded once
    turned = orientation >= 5
    assert (derived.quality.width, derived.quality.height) == ((200, 320) if turned else (320, 200))


def test_the_derived_jpeg_has_no_metadata_no_gps_and_nothing_after_its_end():
    original = with_exif(sign(), orientation=6, gps=True) + zipfile_bytes()
    assert b"GPS" in original or b"\x88\x25" in original
    derived = accepted(original).derived
    assert derived.jpeg.startswith(b"\xff\xd8\xff") and derived.jpeg.endswith(b"\xff\xd9")
    for marker in (b"Exif", b"GPS", b"\x88\x25", b"PK\x03\x04", b"http://ns.adobe.com"):
        assert marker not in derived.jpeg
    assert not Image.open(io.BytesIO(derived.jpeg)).getexif()
    assert not zipfile.is_zipfile(io.BytesIO(derived.jpeg))
    assert derived.sha256_of_original == hashlib.sha256(original).hexdigest()


def test_png_is_accepted_and_becomes_a_jpeg():
    derived = accepted(with_exif(sign(), fmt="PNG"), name=NAME.replace(".jpg", ".png")).derived
    assert derived.format == "png" and derived.jpeg.startswith(b"\xff\xd8\xff")


@pytest.mark.parametrize("kind", ["RGBA", "LA", "P", "RGBA16", "L+tRNS", "L16+tRNS"])
def test_a_transparent_png_is_put_over_white_not_black(kind):
    ink = cv2.cvtColor(sign(), cv2.COLOR_BGR2GRAY) < 128
    small_ok = Limits(min_bytes=1)  # two colours of flat ink compress to under a kilobyte
    derived = accepted(ink_on_transparent(kind), name=NAME.replace(".jpg", ".png"), limits=small_ok).derived
    assert "under_exposed" not in derived.quality.flags
    page = cv2.imdecode(np.frombuffer(derived.jpeg, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert page is not None
    assert page[~ink].mean() > 240 and page[ink].mean() < 90  # a white page with the dark ink on it


def test_partial_transparency_blends_with_white_and_opaque_pngs_decode_as_before():
    bgra = np.array([[[0, 0, 0, 0], [0, 0, 0, 128], [200, 100, 50, 255], [200, 100, 50, 51]]], np.uint8)
    data = cv2.imencode(".png", bgra)[1].tobytes()
    header = formats.read_header(data)
    assert header is not None
    # over white: ink x a/255 + 255 x (1 - a/255)
    assert image.decode(data, header).tolist() == [[[255, 255, 255], [127, 127, 127], [200, 100, 50], [244, 224, 214]]]
    opaque = cv2.imencode(".png", sign())[1].tobytes()
    opaque_header = formats.read_header(opaque)
    assert opaque_header is not None
    np.testing.assert_array_equal(image.decode(opaque, opaque_header), sign())


def test_quality_flags_are_recorded_and_reject_only_where_the_policy_says():
    blurred = cv2.GaussianBlur(sign(), (0, 0), 12)
    dark = (sign() * 0.1).astype(np.uint8)
    small = sign(400, 300)
    assert accepted(jpeg(sign())).derived.quality.flags == ()
    assert "blurry" in accepted(jpeg(blurred)).derived.quality.flags
    assert "under_exposed" in accepted(jpeg(dark)).derived.quality.flags
    assert "over_exposed" in accepted(jpeg(np.full((600, 800, 3), 252, np.uint8))).derived.quality.flags
    assert "low_resolution" in accepted(jpeg(small)).derived.quality.flags
    strict = QualityPolicy(reject=frozenset({"blurry"}))
    assert rejected(jpeg(blurred), policy=strict).reason is Reason.BLURRY
    assert isinstance(run(jpeg(dark), policy=strict), Accepted)  # dark but sharp: not a flag this site rejects on


def zipfile_bytes() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("index.html", "<script>alert(1)</script>")
    return out.getvalue()


def test_concurrent_deliveries_decode_a_bounded_number_of_photos_at_once(monkeypatch):
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier, Lock

    from shared.validation import image, validator

    slots = validator.DECODE_SLOTS.count
    inside, peak, lock = [0], [0], Lock()
    gate = Barrier(slots, timeout=10)  # the first `slots` decodes meet here: that many run together
    real = image.decode

    def decode(data, header):
        with lock:
            inside[0] += 1
            peak[0] = max(peak[0], inside[0])
        try:
            if peak[0] <= slots and inside[0] <= slots:
                gate.wait()
            return real(data, header)
        finally:
            with lock:
                inside[0] -= 1

    monkeypatch.setattr(image, "decode", decode)
    data = sign_jpeg()
    with ThreadPoolExecutor(max_workers=slots * 3) as pool:
        verdicts = list(pool.map(lambda _: run(data), range(slots * 3)))
    assert all(isinstance(v, Accepted) for v in verdicts) and peak[0] == slots
