"""The field-photo generator: deterministic, its ground truth where the ink is, its bad files refused as said."""

from __future__ import annotations

import numpy as np
import pytest

from batch_tasks.ocr.imaging import decode
from shared.validation import Accepted, Limits, QualityPolicy, Rejected, validate
from sitelens import field_photos
from sitelens.field_photos import MIN_CAP, SIZES, FieldPhoto, bad_files, photo_set, render, write_set

HEADERS = {"DANGER", "WARNING", "CAUTION", "NOTICE"}


def gray(photo: FieldPhoto) -> np.ndarray:
    return np.asarray(decode(photo.jpeg).pixels.mean(axis=2))


def angle(polygon) -> float:
    """The direction of the text's baseline in the image, in degrees counter-clockwise (y points down)."""
    (x0, y0), (x1, y1) = polygon[0], polygon[1]
    return float(np.degrees(np.arctan2(y0 - y1, x1 - x0)))


def inside(polygon, shape, shrink: float) -> np.ndarray:
    """A mask of the polygon shrunk towards its centre by `shrink` (so JPEG ringing at its edge stays out)."""
    from batch_tasks.ocr.opencv import cv2

    points = np.array(polygon, np.float32)
    centre = points.mean(axis=0)
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [np.round(centre + (points - centre) * shrink).astype(np.int32)], 1)
    return mask.astype(bool)


def test_a_seed_always_gives_the_same_photo_and_seeds_differ():
    assert render(11) == render(11)
    assert render(11).jpeg != render(12).jpeg
    assert [p.name for p in photo_set(3, seed=40)] == ["field-1080p-0040", "field-1080p-0041", "field-1080p-0042"]


@pytest.mark.parametrize("size", sorted(SIZES))
def test_photos_have_their_size_and_lines_that_fit_in_them(size):
    for photo in photo_set(3, seed=20, size=size):
        image = decode(photo.jpeg)
        assert (image.width, image.height) == (photo.width, photo.height) == SIZES[size]
        assert photo.lines and all(line.text.strip() for line in photo.lines)
        for line in photo.lines:
            points = np.array(line.polygon)
            assert points.shape == (4, 2)
            assert points.min() >= 0 and (points.max(axis=0) < SIZES[size]).all()
            height = np.linalg.norm(points[3] - points[0])  # the ink's height: capitals, plus any descenders
            assert height >= 0.95 * MIN_CAP[size], (line, height)


def test_the_polygons_lie_on_the_ink():
    """Inside a line's polygon the pixels spread far more than in a band of plate just below it."""
    for photo in photo_set(4, seed=30):
        pixels = gray(photo)
        for line in photo.lines:
            spread = pixels[inside(line.polygon, pixels.shape, 0.9)].std()
            points = np.array(line.polygon)
            below = points + (points[3] - points[0]) * 0.85  # the gap between this line and the next
            assert spread > 25, (photo.name, line.text, spread)
            if line.text not in HEADERS:  # a sign's coloured band ends just below its header
                assert spread > 2 * pixels[inside(below, pixels.shape, 0.4)].std(), (photo.name, line.text)


def test_rotations_stay_within_10_degrees_and_flips_turn_every_plate():
    turns = [abs(angle(line.polygon)) for p in photo_set(6, seed=50) for line in p.lines]
    assert max(min(a, 180 - a) for a in turns) <= 10.5  # off level or off upside down by at most 10°
    assert max(min(a, 180 - a) for a in turns) > 5
    flipped = [angle(line.polygon) for line in render(50, flip_180=True).lines]
    assert all(abs(abs(a) - 180) <= 10.5 for a in flipped)
    assert all(abs(angle(line.polygon)) <= 10.5 for line in render(50, flip_180=False).lines)
    by_chance = [angle(line.polygon) for seed in range(12) for line in render(seed).lines]
    assert any(abs(a) > 90 for a in by_chance)  # some plates hang upside down without being asked


def test_the_sets_vary_fonts_sizes_and_kinds_of_plate():
    photos = photo_set(12, seed=60)
    texts = [line.text for p in photos for line in p.lines]
    heights = [np.linalg.norm(np.subtract(line.polygon[3], line.polygon[0])) for p in photos for line in p.lines]
    assert any(t.startswith("SERIAL ") for t in texts) and any(t.startswith("DANGER") for t in texts)
    assert any(t.startswith(("METER ", "READING ", "FLOW ", "PRESSURE ")) for t in texts)
    assert max(heights) > 2 * min(heights)
    assert len({len(p.jpeg) for p in photos}) == len(photos)


def test_write_set_writes_named_jpegs(tmp_path):
    paths = write_set(tmp_path / "photos", 2, seed=3)
    assert [p.name for p in paths] == ["field-1080p-0003.jpg", "field-1080p-0004.jpg"]
    assert paths[1].read_bytes() == render(4).jpeg


def check(name: str, data: bytes, policy: QualityPolicy | None = None):
    return validate(f"yard/cam-1/2026/11/22/{name}", len(data), lambda: data, Limits(), policy or QualityPolicy())


def test_generated_photos_pass_validation_without_quality_flags():
    strict = QualityPolicy(reject=frozenset({"blurry", "under_exposed", "over_exposed"}))
    for photo in [*photo_set(3, seed=70), render(70, "12mp")]:
        verdict = check(f"{photo.name}.jpg", photo.jpeg, strict)
        assert isinstance(verdict, Accepted) and verdict.derived.quality.flags == (), verdict


def test_bad_files_are_small_and_refused_with_the_reason_they_name():
    files = bad_files()
    assert {"corrupt_image", "unsupported_type", "empty_file", "image_too_large"} <= {r for _, r in files.values()}
    for name, (data, reason) in files.items():
        assert len(data) <= 32 * 1024
        verdict = check(name, data)
        assert isinstance(verdict, Rejected) and verdict.reason.value == reason, (name, verdict)


def test_without_the_dejavu_fonts_hershey_draws_the_text(monkeypatch, tmp_path):
    with_dejavu = render(80)
    monkeypatch.setattr(field_photos, "FONT_DIR", tmp_path)
    field_photos._truetype.cache_clear()
    try:
        fallback = render(80)
    finally:
        field_photos._truetype.cache_clear()
    assert fallback.jpeg != with_dejavu.jpeg
    assert fallback.lines[0].text == with_dejavu.lines[0].text  # the same first plate (then placements differ)
    assert fallback.lines[0].polygon != with_dejavu.lines[0].polygon  # in another font
    pixels = gray(fallback)
    for line in fallback.lines:
        assert pixels[inside(line.polygon, pixels.shape, 0.9)].std() > 25, line
