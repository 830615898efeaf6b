"""The memory a photo's decode is weighed at, from its header and structure, and the weight validation holds its
slot with."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator

import numpy as np
import pytest
from PIL import Image

from batch_tasks.ocr.opencv import cv2
from shared.pipeline_settings import INSTANCE_MEMORY_MB
from shared.validation import Accepted, Limits, QualityPolicy, formats, image, jpeg_structure, png_structure, validate
from shared.validation.structure import Structure
from shared.validation.validator import decode_slots
from tests.unit.validation.images import ink_on_transparent, progressive_jpeg, sign, sign_jpeg, synthetic_jpeg


def png(pixels: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".png", pixels)
    assert ok
    return data.tobytes()


CASES = {  # name: (bytes, how image.decode reads them, bytes a pixel the weight counts)
    "JPEG": (sign_jpeg(), cv2.IMREAD_COLOR, 3),
    "RGB PNG": (png(sign()), cv2.IMREAD_COLOR, 3),
    "16-bit RGB PNG": (png(sign().astype(np.uint16) * 257), cv2.IMREAD_COLOR, 3),  # decoded to 8 bits
    "RGBA PNG": (ink_on_transparent("RGBA"), cv2.IMREAD_UNCHANGED, 4),
    "16-bit RGBA PNG": (ink_on_transparent("RGBA16"), cv2.IMREAD_UNCHANGED, 8),
    "grey + alpha PNG": (ink_on_transparent("LA"), cv2.IMREAD_UNCHANGED, 4),  # OpenCV gives BGRA
    "palette PNG with tRNS": (ink_on_transparent("P"), cv2.IMREAD_UNCHANGED, 4),
    "16-bit grey PNG with tRNS": (ink_on_transparent("L16+tRNS"), cv2.IMREAD_UNCHANGED, 3),  # 2, then BGR's 3
}


@pytest.mark.parametrize("name", CASES)
def test_a_decode_is_weighed_at_twice_the_larger_of_what_opencv_returns_and_the_bgr_result(name):
    data, mode, per_pixel = CASES[name]
    header = formats.read_header(data)
    assert header is not None
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), mode | cv2.IMREAD_IGNORE_ORIENTATION)
    pixels = header.width * header.height
    structure = png_structure.survey(data, header) if header.format == formats.PNG else jpeg_structure.survey(data, 64)
    assert isinstance(structure, Structure)
    weight = image.footprint(data, header, structure)
    assert weight == 2 * max(decoded.nbytes, 3 * pixels) == 2 * per_pixel * pixels


class Recording:
    """Slots that admit every photo at once and note what each held."""

    def __init__(self) -> None:
        self.holds: list[tuple[str, int]] = []

    @contextlib.contextmanager
    def hold(self, site: str, weight: int) -> Iterator[None]:
        self.holds.append((site, weight))
        yield


@pytest.mark.parametrize(
    ("data", "ext", "per_pixel"), [(sign_jpeg(), "jpg", 3), (ink_on_transparent("RGBA16"), "png", 8)]
)
def test_validation_holds_its_slot_with_the_photos_weight(data, ext, per_pixel):
    slots = Recording()
    verdict = validate(f"north-yard/cam-1/2026/11/22/IMG_0001.{ext}", len(data), lambda: data, Limits(),
                       QualityPolicy(), slots=slots)  # fmt: skip
    assert isinstance(verdict, Accepted)
    assert slots.holds == [("north-yard", 2 * per_pixel * 800 * 600)]


def cmyk_jpeg(width: int, height: int, *, progressive: bool) -> bytes:
    out = io.BytesIO()
    ink = np.full((height, width, 4), 40, np.uint8)
    ink[height // 4 : height // 2, width // 4 : -width // 4] = (0, 0, 0, 255)  # a black band: text-like contrast
    Image.fromarray(ink, "CMYK").save(out, "JPEG", quality=90, progressive=progressive, subsampling=0)
    return out.getvalue()


# 800 x 640: whole blocks and whole 4:2:0 MCUs, so each component's samples are its pixels, or a quarter of them.
WIDTH, HEIGHT = 800, 640
JPEGS = {  # name: (bytes, the weight in bytes a pixel)
    "baseline 4:2:0": (sign_jpeg(WIDTH, HEIGHT), 6),
    "baseline CMYK": (cmyk_jpeg(WIDTH, HEIGHT, progressive=False), 6),
    "progressive 4:2:0": (progressive_jpeg(sign(WIDTH, HEIGHT)), 6),  # 2 x 1.5 samples + 3: as twice the image
    "progressive grey": (progressive_jpeg(cv2.cvtColor(sign(WIDTH, HEIGHT), cv2.COLOR_BGR2GRAY)), 6),  # 2 + 3
    "progressive 4:4:4": (progressive_jpeg(sign(WIDTH, HEIGHT), subsampling=0), 9),  # 2 x 3 samples + 3
    "progressive CMYK": (cmyk_jpeg(WIDTH, HEIGHT, progressive=True), 11),  # 2 x 4 samples + 3
}


@pytest.mark.parametrize("name", JPEGS)
def test_a_jpeg_decoded_through_libjpegs_coefficient_buffer_is_weighed_with_it(name):
    """libjpeg buffers a progressive JPEG's coefficients (2 bytes a sample of each component) for the whole
    image beside the BGR image it writes: more than twice the image in 4:4:4 or CMYK."""
    data, per_pixel = JPEGS[name]
    slots = Recording()
    verdict = validate("north-yard/cam-1/2026/11/22/IMG_0001.jpg", len(data), lambda: data, Limits(), QualityPolicy(),
                       slots=slots)  # fmt: skip
    assert isinstance(verdict, Accepted)
    assert slots.holds == [("north-yard", per_pixel * WIDTH * HEIGHT)]


@pytest.mark.parametrize(
    ("frame", "scans", "buffered"),
    [(b"\xff\xc0", [[1, 2, 3]], False), (b"\xff\xc0", [[1, 2, 3], [1]], False),  # one pass: a row of blocks
     (b"\xff\xc0", [[1], [2], [3]], True), (b"\xff\xc0", [[1, 2], [3]], True),  # each scan some components
     (b"\xff\xc2", [[1, 2, 3]], True), (b"\xff\xca", [[1, 2, 3]], True)],  # progressive, one scan or more
)  # fmt: skip
def test_the_structure_walk_tells_which_jpegs_libjpeg_buffers(frame, scans, buffered):
    data = synthetic_jpeg(64, 48, 3, scans).replace(b"\xff\xc2", frame, 1)
    structure = jpeg_structure.survey(data, 64)
    assert isinstance(structure, jpeg_structure.JpegStructure)
    assert structure.buffered_samples == (3 * 64 * 48 if buffered else 0)


@pytest.mark.parametrize(("cores", "slots"), [(None, 1), (1, 1), (2, 2), (16, 4)])
def test_a_worker_decodes_at_most_one_photo_a_core_and_4_whatever_its_memory(monkeypatch, cores, slots):
    monkeypatch.setattr("os.cpu_count", lambda: cores)
    for memory_mb in ("512", "4096"):
        assert decode_slots({INSTANCE_MEMORY_MB: memory_mb}).count == slots
