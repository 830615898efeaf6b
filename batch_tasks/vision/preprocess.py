"""A decoded photo to a classify or detect model's input tensor, as its manifest's `input` says, and back.

Steps, in order: resize to `size` (`stretch` each axis on its own; `letterbox` to fit inside, centred on
`pad_value`; `center_crop` to cover, cut to the middle), colour order (decoded pixels are BGR), `scale`
(multiplies the 0..255 values), then `(x - mean) / std` per channel of the model's order, then `layout`.

Box coordinates are continuous pixel edges (0 is the left edge of the first pixel, `width` the right edge of
the last), so every mapping is `input = source * factor + offset` per axis, undone by `Placement.to_source`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from batch_tasks.models.vision_spec import InputSpec
from batch_tasks.ocr.imaging import Image
from batch_tasks.ocr.opencv import cv2

Tensor = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Placement:
    """Where a source image landed in the input tensor: `input = source * factor + offset`, per axis."""

    factor_x: float
    factor_y: float
    offset_x: float
    offset_y: float

    def to_source(self, boxes: Tensor) -> Tensor:
        """[K, 4] boxes (x1, y1, x2, y2) in input pixels to the source image's pixels (not clipped)."""
        out = np.asarray(boxes, np.float32).copy()
        out[:, 0::2] = (out[:, 0::2] - self.offset_x) / self.factor_x
        out[:, 1::2] = (out[:, 1::2] - self.offset_y) / self.factor_y
        return out


def _resize(pixels: Image, width: int, height: int) -> Image:
    # INTER_AREA when shrinking (no aliasing on 12 MP photos), bilinear when enlarging.
    shrinking = width * height < pixels.shape[0] * pixels.shape[1]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return np.asarray(cv2.resize(pixels, (width, height), interpolation=interpolation), dtype=np.uint8)


def fit(pixels: Image, spec: InputSpec) -> tuple[Image, Placement]:
    """The BGR image resized into the input's height x width by the manifest's mode."""
    src_h, src_w = pixels.shape[:2]
    h, w = spec.height, spec.width
    if spec.resize == "stretch":
        return _resize(pixels, w, h), Placement(w / src_w, h / src_h, 0.0, 0.0)
    if spec.resize == "letterbox":
        ratio = min(h / src_h, w / src_w)
        new_w, new_h = max(1, round(src_w * ratio)), max(1, round(src_h * ratio))
        left, top = (w - new_w) // 2, (h - new_h) // 2
        canvas = np.full((h, w, 3), spec.pad_value, np.uint8)
        canvas[top : top + new_h, left : left + new_w] = _resize(pixels, new_w, new_h)
        return canvas, Placement(new_w / src_w, new_h / src_h, float(left), float(top))
    ratio = max(h / src_h, w / src_w)  # center_crop: cover the input, cut the overhang evenly
    new_w, new_h = max(w, round(src_w * ratio)), max(h, round(src_h * ratio))
    left, top = (new_w - w) // 2, (new_h - h) // 2
    cropped = _resize(pixels, new_w, new_h)[top : top + h, left : left + w]
    return np.ascontiguousarray(cropped), Placement(new_w / src_w, new_h / src_h, float(-left), float(-top))


def to_tensor(fitted: Image, spec: InputSpec) -> Tensor:
    """One image's tensor (C, H, W or H, W, C), float32, in the model's colour order and normalisation."""
    pixels = fitted[:, :, ::-1] if spec.channel_order == "RGB" else fitted
    x = pixels.astype(np.float32)
    x *= np.float32(spec.scale)
    x -= np.asarray(spec.mean, np.float32)
    x /= np.asarray(spec.std, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1) if spec.layout == "NCHW" else x, dtype=np.float32)


def prepare(pixels: Image, spec: InputSpec) -> tuple[Tensor, Placement]:
    fitted, placement = fit(pixels, spec)
    return to_tensor(fitted, spec), placement


def decode_long_side(spec: InputSpec) -> int:
    """The long side to decode photos to: twice the input's, so even the short side of a 4:3 or 3:2 photo
    (cropped or stretched) has more pixels than the input, while libjpeg's DCT scaling still skips most."""
    return 2 * max(spec.height, spec.width)


def zeros(spec: InputSpec, batch: int) -> Tensor:
    """A batch of blank inputs, for warming the session."""
    shape = (batch, 3, spec.height, spec.width) if spec.layout == "NCHW" else (batch, spec.height, spec.width, 3)
    return np.zeros(shape, np.float32)
