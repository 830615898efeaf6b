"""The memory a photo's decode is weighed at, from its header, and the weight validation holds its slot with."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import pytest

from batch_tasks.ocr.opencv import cv2
from shared.validation import Accepted, Limits, QualityPolicy, formats, image, validate
from tests.unit.validation.images import ink_on_transparent, sign, sign_jpeg


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
    assert image.footprint(data, header) == 2 * max(decoded.nbytes, 3 * pixels) == 2 * per_pixel * pixels


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
