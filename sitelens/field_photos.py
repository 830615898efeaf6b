"""Synthetic field photos with known text: equipment nameplates, safety signs and meter labels on photo-like
backgrounds, each text line's polygon known exactly; plus small files the pipeline must reject.

A photo is a function of its seed: plates of text (several DejaVu fonts and sizes, dark ink on light plates or
light on dark ones) turned by up to ±10° and sometimes mounted upside down, composited with a soft shadow onto
a background of gradients, low-frequency texture and pipes, then lit unevenly, blurred a little, given sensor
noise and JPEG-compressed at quality 60-90. Cap heights stay legible at the det input size (long side 1280):
at least 15 px in 1080p, 28 px in 12 MP. Without DejaVu, OpenCV's built-in Hershey fonts draw the text.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont

from batch_tasks.ocr.opencv import cv2

# 360p and vga: small photos for long runs on CPUs (the chaos run), text still large enough to read. 360p's
# 16:9 fills the model's smaller det bucket (736 x 1280 against vga's 960 x 1280), about a quarter less det.
SIZES = {"360p": (640, 360), "vga": (640, 480), "1080p": (1920, 1080), "12mp": (4032, 3024)}
MIN_CAP = {"360p": 12, "vga": 12, "1080p": 15, "12mp": 28}  # px of capital-letter height in the photo
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONTS = ("DejaVuSans-Bold", "DejaVuSans", "DejaVuSansCondensed-Bold", "DejaVuSansMono", "DejaVuSerif-Bold")
HERSHEY = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_TRIPLEX)
# concrete, cream paint, steel blue, cabinet grey, machine green, brick (RGB)
WALLS = ((150, 150, 145), (215, 205, 180), (120, 135, 150), (185, 190, 190), (70, 95, 80), (150, 90, 70))
# (face, ink) per plate kind: engraved metal, a white sign, a printed label (RGB)
PLATE_COLOURS = (
    (((190, 192, 188), (35, 35, 40)), ((40, 60, 120), (235, 235, 235)), ((205, 180, 120), (30, 25, 20))),
    (((245, 245, 240), (20, 20, 20)),),
    (((240, 238, 225), (25, 25, 60)), ((250, 220, 60), (20, 20, 20)), ((30, 30, 30), (240, 240, 240))),
)
# safety signs: the header (on its coloured band), then one or two lines
SIGNS = "DANGER/HIGH VOLTAGE/KEEP OUT,WARNING/HOT SURFACE/DO NOT TOUCH,CAUTION/CONFINED SPACE/PERMIT REQUIRED"
SIGNS += ",NOTICE/EAR PROTECTION/REQUIRED,DANGER/AUTHORISED/PERSONNEL ONLY"
SERIAL_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"  # no I, O or Q: serial schemes leave them out, being read as 1 and 0
# a sign's header band and its lettering
_HEADERS = {"DANGER": ((200, 30, 30), (255, 255, 255)), "WARNING": ((240, 190, 20), (20, 20, 20))}
_HEADERS |= {"CAUTION": ((240, 190, 20), (20, 20, 20)), "NOTICE": ((20, 70, 160), (255, 255, 255))}
CAP_PER_EM = 0.73  # DejaVu's capital height per pixel of font size
Floats = npt.NDArray[np.float32]  # RGB, 0…255
Rng = np.random.Generator
Taken = list[tuple[int, int, int, int]]  # x0, y0, x1, y1 of the plates placed so far


@dataclass(frozen=True)
class TextLine:
    text: str
    polygon: tuple[tuple[float, float], ...]  # the ink's 4 corners in the photo, from the text's own top-left


@dataclass(frozen=True)
class FieldPhoto:
    name: str
    jpeg: bytes
    width: int
    height: int
    lines: tuple[TextLine, ...]


@dataclass(frozen=True)
class _Plate:
    pixels: npt.NDArray[np.uint8]  # RGB
    mask: npt.NDArray[np.uint8]  # 255 on the plate
    boxes: tuple[tuple[str, tuple[float, float, float, float]], ...]  # text, ink box in plate pixels


def _pick(rng: Rng, options: list[str]) -> str:
    return options[int(rng.integers(len(options)))]


def _nameplate(rng: Rng) -> list[str]:
    unit = _pick(rng, ["PUMP P", "MOTOR M", "FAN F", "COMPRESSOR C", "VALVE V", "BLOWER B", "CHILLER CH"])
    extra = [
        f"{_pick(rng, ['0.75', '2.2', '5.5', '7.5', '15', '37', '90'])} KW {_pick(rng, ['960', '1450', '2900'])} RPM",
        f"IP{_pick(rng, ['54', '55', '65', '66'])} CLASS {_pick(rng, ['B', 'F', 'H'])}",
        f"MFG {rng.integers(2004, 2026)} TYPE {_pick(rng, ['K', 'R', 'X'])}{rng.integers(10, 100)}",
        f"{rng.integers(1, 80)}.{rng.integers(10)} A COS 0.{rng.integers(78, 96)}",
    ]
    return [
        f"{unit}-{rng.integers(100, 1000)}",
        f"MAX {_pick(rng, ['230', '400', '415', '690'])} V {_pick(rng, ['50', '60'])} HZ",
        f"SERIAL {rng.integers(10000, 100000)}-{_pick(rng, list(SERIAL_LETTERS))}",
        *[extra[i] for i in sorted(rng.choice(len(extra), int(rng.integers(1, 3)), replace=False))],
    ]


def _sign(rng: Rng) -> list[str]:
    return _pick(rng, SIGNS.split(",")).split("/")[: int(rng.integers(2, 4))]


def _label(rng: Rng) -> list[str]:
    lines = [
        f"METER {rng.integers(1000, 10000):04d}-{chr(65 + int(rng.integers(8)))}",
        f"READING {rng.integers(0, 1000000):06d}.{rng.integers(10)} KWH",
        f"FLOW {rng.integers(1, 200)}.{rng.integers(10)} M3/H",
        f"PRESSURE {rng.integers(1, 16)}.{rng.integers(10)} BAR",
        f"Tank T-{rng.integers(1, 20)} level {rng.integers(5, 100)}%",
        f"Inspected {rng.integers(2019, 2027)}-{rng.integers(1, 13):02d}-{rng.integers(1, 29):02d}",
    ]
    return [lines[i] for i in sorted(rng.choice(len(lines), int(rng.integers(2, 5)), replace=False))]


@cache
def _truetype(name: str, px: int) -> ImageFont.FreeTypeFont | None:
    path = FONT_DIR / f"{name}.ttf"
    return ImageFont.truetype(str(path), px) if path.exists() else None


def _ink(text: str, font: str, hershey: int, cap: float) -> tuple[npt.NDArray[np.float32], float, float]:
    """The text's coverage (0…1) and its top-left relative to the start of its baseline."""
    truetype = _truetype(font, round(cap / CAP_PER_EM))
    if truetype is not None:
        left, top, right, bottom = (round(v) for v in truetype.getbbox(text, anchor="ls"))
        mask = Image.new("L", (right - left, bottom - top), 0)
        ImageDraw.Draw(mask).text((-left, -top), text, font=truetype, fill=255, anchor="ls")
        return (np.asarray(mask) / 255).astype(np.float32), left, top
    scale, thick = cap / 22.0, max(1, round(cap / 9))  # Hershey capitals are about 22 px tall at scale 1
    (w, h), below = cv2.getTextSize(text, hershey, scale, thick)
    canvas = np.zeros((h + below + 2 * thick, w + 2 * thick), np.uint8)
    cv2.putText(canvas, text, (thick, h + thick), hershey, scale, 255, thick, cv2.LINE_AA)
    ys, xs = np.nonzero(canvas)
    tight = canvas[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    return (tight / 255).astype(np.float32), float(xs.min() - thick), float(ys.min() - h - thick)


def _render_plate(rng: Rng, kind: int, cap: float) -> _Plate:
    """One plate: its lines laid out top to bottom and drawn, with their ink boxes."""
    texts = [_nameplate, _sign, _label][kind](rng)
    font, hershey = FONTS[int(rng.integers(len(FONTS)))], HERSHEY[int(rng.integers(len(HERSHEY)))]
    inks = [_ink(text, font, hershey, cap * (1.35 if kind == 1 and i == 0 else 1.0)) for i, text in enumerate(texts)]
    margin, pitch = 1.4 * cap, cap * float(rng.uniform(2.0, 2.5))
    top = margin - inks[0][2]  # the first baseline
    w = round(max(m.shape[1] for m, _, _ in inks) + 2 * margin)
    h = round(top + pitch * (len(texts) - 1) + margin)
    face, ink = PLATE_COLOURS[kind][int(rng.integers(len(PLATE_COLOURS[kind])))]
    pixels = np.empty((h, w, 3), np.float32)
    pixels[:] = face
    if kind == 0:  # brushed metal: horizontal streaks
        pixels += cv2.resize(rng.normal(0, 9, (h, max(2, w // 24))).astype(np.float32), (w, h))[..., None]
    header = _HEADERS.get(texts[0]) if kind == 1 else None
    if header is not None:
        pixels[: round(top + 0.6 * cap)] = header[0]
    picture = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(picture)
    draw.rounded_rectangle((2, 2, w - 3, h - 3), radius=round(cap * 0.6), outline=ink, width=max(2, round(cap / 8)))
    for x, y in ((margin / 2, margin / 2), (w - margin / 2, margin / 2), (margin / 2, h - margin / 2)):
        draw.ellipse((x - cap / 5, y - cap / 5, x + cap / 5, y + cap / 5), fill=(110, 110, 110))
    pixels = np.asarray(picture, np.float32)
    centred, boxes = bool(rng.integers(2)), []
    for i, (text, (mask, left, above)) in enumerate(zip(texts, inks, strict=True)):
        x0 = round((w - mask.shape[1]) / 2 if centred else margin + left)
        y0 = round(top + pitch * i + above)
        colour = header[1] if header is not None and i == 0 else ink
        area = pixels[y0 : y0 + mask.shape[0], x0 : x0 + mask.shape[1]]
        area += (np.asarray(colour, np.float32) - area) * mask[..., None]
        boxes.append((text, (float(x0), float(y0), float(x0 + mask.shape[1]), float(y0 + mask.shape[0]))))
    outline = Image.new("L", (w, h), 0)
    ImageDraw.Draw(outline).rounded_rectangle((0, 0, w - 1, h - 1), radius=round(cap * 0.6), fill=255)
    return _Plate(pixels.astype(np.uint8), np.asarray(outline), tuple(boxes))


def _background(rng: Rng, width: int, height: int) -> Floats:
    """A wall, cabinet or concrete surface: two-colour gradient, soft texture and a pipe or two, full size."""
    small_w, small_h = width // 8, height // 8
    base = np.array(WALLS[int(rng.integers(len(WALLS)))], np.float64) + rng.normal(0, 8, 3)
    a, b = base * rng.uniform(0.6, 1.1), base * rng.uniform(0.6, 1.1) + rng.normal(0, 12, 3)
    t = np.linspace(0, 1, small_w, dtype=np.float32)[None, :, None] * float(rng.uniform(0.3, 1))
    t = t + np.linspace(0, 1, small_h, dtype=np.float32)[:, None, None] * float(rng.uniform(0, 0.7))
    small = (a + (b - a) * np.clip(t, 0, 1)).astype(np.float32)
    for cells, amp in ((6, 18.0), (40, 9.0), (160, 5.0)):
        blob = rng.normal(0, amp, (max(2, cells * small_h // small_w), cells)).astype(np.float32)
        small += cv2.resize(blob, (small_w, small_h), interpolation=cv2.INTER_CUBIC)[..., None]
    for _ in range(int(rng.integers(0, 3))):  # pipes: a band with cylindrical shading
        y, r = int(rng.integers(0, small_h)), int(rng.integers(small_h // 30 + 1, small_h // 10 + 2))
        shade = np.cos(np.linspace(-1.3, 1.3, 2 * r, dtype=np.float32))[:, None, None]
        rows = slice(max(0, y - r), min(small_h, y + r))
        small[rows] = (rng.uniform(60, 220, 3) * shade[: rows.stop - rows.start]).astype(np.float32)
    return np.asarray(cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR), np.float32)


def _paste(canvas: Floats, plate: _Plate, angle: float, rng: Rng, taken: Taken) -> list[TextLine] | None:
    """Composite a turned plate at a random place clear of the `taken` ones; None when it does not fit there."""
    h, w = plate.mask.shape
    height, width = canvas.shape[:2]
    turn = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    corners = np.array([[0, 0, 1], [w, 0, 1], [w, h, 1], [0, h, 1]], np.float64) @ turn.T
    span = corners.max(axis=0) - corners.min(axis=0)
    if span[0] >= width - 4 or span[1] >= height - 4:
        return None
    x0 = int(rng.integers(2, int(width - span[0] - 1)))
    y0 = int(rng.integers(2, int(height - span[1] - 1)))
    turn[:, 2] += (x0, y0) - corners.min(axis=0)
    bw, bh = int(span[0]) + 2, int(span[1]) + 2
    if any(x0 < r and x0 + bw > left and y0 < b and y0 + bh > top for left, top, r, b in taken):
        return None
    taken.append((x0, y0, x0 + bw, y0 + bh))
    region = canvas[y0 : y0 + bh, x0 : x0 + bw]
    local = turn.copy()
    local[:, 2] -= (x0, y0)
    face = cv2.warpAffine(plate.pixels.astype(np.float32), local, (bw, bh), flags=cv2.INTER_LINEAR)
    alpha = cv2.warpAffine(plate.mask, local, (bw, bh), flags=cv2.INTER_LINEAR).astype(np.float32) / 255
    offset = max(2, min(bw, bh) // 40)
    shadow = cv2.GaussianBlur(np.roll(alpha, (offset, offset), (0, 1)), (0, 0), offset)[..., None]
    a = alpha[..., None]
    region[:] = (region * (1 - 0.45 * shadow)) * (1 - a) + face * a
    lines = []
    for text, (left, top, right, bottom) in plate.boxes:
        box = np.array([[left, top, 1], [right, top, 1], [right, bottom, 1], [left, bottom, 1]]) @ turn.T
        lines.append(TextLine(text, tuple((round(float(x), 1), round(float(y), 1)) for x, y in box)))
    return lines


def render(seed: int, size: str = "1080p", *, flip_180: bool | None = None) -> FieldPhoto:
    """The photo for `seed`: one to three plates; `flip_180` mounts them all upside down (None: by chance)."""
    width, height = SIZES[size]
    rng = np.random.default_rng(seed)
    canvas = _background(rng, width, height)
    lines: list[TextLine] = []
    taken: Taken = []
    for kind in rng.permutation(3)[: int(rng.integers(1, 4))]:
        cap = MIN_CAP[size] * float(rng.uniform(1.0, 2.6))
        plate = _render_plate(rng, int(kind), cap)
        upside_down = bool(rng.random() < 0.2) if flip_180 is None else flip_180
        angle = float(rng.uniform(-10, 10)) + (180 if upside_down else 0)
        for _ in range(8):  # a few tries to find a free place
            placed = _paste(canvas, plate, angle, rng, taken)
            if placed is not None:
                lines += placed
                break
    return FieldPhoto(f"field-{size}-{seed:04d}", _camera(canvas, rng), width, height, tuple(lines))


def _camera(canvas: Floats, rng: Rng) -> bytes:
    """Uneven light, lens blur, sensor noise and JPEG compression at quality 60-90."""
    height, width = canvas.shape[:2]
    light = rng.uniform(0.75, 1.1, (3, 4)).astype(np.float32)
    canvas *= cv2.resize(light, (width, height), interpolation=cv2.INTER_CUBIC)[..., None]
    blurred = np.asarray(cv2.GaussianBlur(canvas, (0, 0), float(rng.uniform(0.4, 1.0)) * width / 1920), np.float32)
    noise = rng.standard_normal((height // 2, width // 2), dtype=np.float32) * float(rng.uniform(2, 7))
    blurred += cv2.resize(noise, (width, height), interpolation=cv2.INTER_NEAREST)[..., None]  # 2 x 2 grain
    bgr = cv2.cvtColor(np.clip(blurred, 0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR)
    ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(60, 91))])
    if not ok:
        raise RuntimeError("OpenCV could not encode the photo as JPEG")
    return bytes(data.tobytes())


def photo_set(count: int, seed: int = 7, size: str = "1080p") -> list[FieldPhoto]:
    """`count` photos with seeds `seed`, `seed + 1`, …"""
    return [render(seed + i, size) for i in range(count)]


def write_set(folder: Path, count: int, seed: int = 7, size: str = "1080p") -> list[Path]:
    """Write `photo_set(...)` as `{name}.jpg` files into `folder` (created if needed); returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [(folder / f"{photo.name}.jpg", photo.jpeg) for photo in photo_set(count, seed, size)]
    for path, data in paths:
        path.write_bytes(data)
    return [path for path, _ in paths]


def bad_files() -> dict[str, tuple[bytes, str]]:
    """File name → (bytes, the `shared.validation.Reason` ingestion rejects it with); a few KB, none under 1 KiB
    but the empty one (so `too_small` never preempts the reason meant)."""
    pdf = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\n" * 40  # a PDF renamed
    return {
        "truncated.jpg": (_truncated_jpeg(), "corrupt_image"),
        "report.jpg": (pdf, "unsupported_type"),
        "empty.jpg": (b"", "empty_file"),
        "huge.png": (_png_bomb(14000, 14000), "image_too_large"),  # 196 MP in 24 KB
    }


@cache
def _truncated_jpeg() -> bytes:
    """A 320 x 180 field photo cut after a third of its bytes, inside the scan (so no end marker)."""
    photo = np.asarray(cv2.imdecode(np.frombuffer(render(1).jpeg, np.uint8), cv2.IMREAD_COLOR), np.uint8)
    whole = cv2.imencode(".jpg", cv2.resize(photo, (320, 180)), [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes()
    return bytes(whole[: len(whole) // 3])


@cache
def _png_bomb(width: int, height: int) -> bytes:
    """A valid 1-bit grey PNG of `width` x `height` zeros (a decompression bomb: nothing but its header is safe)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    packer = zlib.compressobj(9)
    row = bytes(1 + (width + 7) // 8)  # filter byte 0, then the row's bits
    data = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
