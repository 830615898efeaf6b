"""The real PP-OCRv4 model on the CPU reads text rendered into synthetic photos, and finds where it is."""

from __future__ import annotations

import json

import numpy as np
import pytest

from batch_tasks.ocr.engine import OcrEngine
from batch_tasks.ocr.imaging import DecodedImage, decode
from batch_tasks.ocr.opencv import cv2
from tests.integration.ocr.photos import canon, jpeg, lands_on, paper, polygon_box, write

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sign():
    """A 2400 x 1500 photo with three lines of known text."""
    image = paper(1500, 2400)
    drawn = [
        write(image, "Flow rate 35 m3 per h", (150, 300), 2.0, 5),
        write(image, "METER 0815-A", (150, 650), 2.0, 5),
        write(image, "Pump 7 OK", (1400, 1100), 1.6, 4),
    ]
    return jpeg(image), drawn


def test_reads_every_line_where_it_was_drawn(engine: OcrEngine, sign):
    data, drawn = sign
    result = engine.read(data)
    assert engine.providers[0] == "CPUExecutionProvider"
    assert (result.width, result.height) == (2400, 1500)
    assert [canon(line.text) for line in result.lines] == [canon(d.text) for d in drawn]  # in reading order
    assert any(line.text == d.text for line, d in zip(result.lines, drawn, strict=True))  # most read exactly
    for line, d in zip(result.lines, drawn, strict=True):
        assert lands_on(line.polygon, d), (line.polygon, d.box)
        assert line.confidence > 0.85 and line.box_score > 0.6
    assert json.loads(json.dumps(result.to_dict()))["lines"][0]["polygon"] == [list(p) for p in result.lines[0].polygon]


def test_a_12_mp_photo_is_decoded_reduced_and_its_polygons_mapped_to_full_size(engine: OcrEngine):
    image = paper(3024, 4032)
    drawn = [
        write(image, "SITE 42 NORTH GATE", (300, 500), 4.0, 9),
        write(image, "Serial 7734-B", (300, 1100), 3.0, 7),
        write(image, "Valve closed", (2200, 2000), 2.5, 6),
        write(image, "Flow rate 35 m3 per h", (600, 2700), 2.0, 5),
    ]
    data = jpeg(image)
    reduced = engine.decode(data)
    assert reduced.pixels.shape == (1512, 2016, 3)  # 2x: still over 1.5 x the 1280 det long side
    full = decode(data)
    by_reduced, by_full = engine.run_batch([reduced, full], with_overlay=False)
    for result in (by_reduced, by_full):
        assert (result.width, result.height) == (4032, 3024)
        assert [canon(line.text) for line in result.lines] == [canon(d.text) for d in drawn]
        for line, d in zip(result.lines, drawn, strict=True):
            assert lands_on(line.polygon, d), (line.polygon, d.box)
    # the reduction changes the rec crops, not where the boxes are (det sees the same 1280 px either way)
    for a, b in zip(by_reduced.lines, by_full.lines, strict=True):
        np.testing.assert_allclose(polygon_box(a.polygon), polygon_box(b.polygon), atol=8)


def test_photos_of_different_shapes_share_one_batch_and_keep_their_order(engine: OcrEngine, sign):
    portrait = paper(1600, 900)
    tall = [write(portrait, "Tank 3", (100, 400), 2.5, 6), write(portrait, "Level 80", (100, 900), 2.5, 6)]
    blank = DecodedImage.from_array(np.full((600, 800, 3), 255, np.uint8))
    results = engine.run_batch([jpeg(portrait), sign[0], blank])
    assert [canon(line.text) for line in results[0].lines] == [canon(d.text) for d in tall]
    assert [canon(line.text) for line in results[1].lines] == [canon(d.text) for d in sign[1]]
    assert results[2].lines == ()
    assert (results[0].width, results[0].height) == (900, 1600)


@pytest.mark.parametrize("turn", [cv2.ROTATE_90_CLOCKWISE, cv2.ROTATE_90_COUNTERCLOCKWISE])
def test_a_photo_turned_by_90_degrees_reads_its_vertical_lines(engine: OcrEngine, turn):
    image = paper(900, 1400)
    drawn = [write(image, "Pump 7 OK", (100, 300), 2.5, 6), write(image, "Tank level 80", (100, 600), 2.5, 6)]
    result = engine.read(jpeg(cv2.rotate(image, turn)), with_overlay=False)
    # tall crops are turned counter-clockwise; text that then stands upside down is turned by the classifier
    assert sorted(canon(line.text) for line in result.lines) == sorted(canon(d.text) for d in drawn)


def test_tilted_text_is_read_and_its_polygons_follow_the_tilt(engine: OcrEngine):
    image = paper(900, 1400)
    write(image, "Pump 7 OK", (300, 300), 2.5, 6)
    write(image, "Tank level 80", (300, 600), 2.5, 6)
    turn = cv2.getRotationMatrix2D((700, 450), 10, 1.0)  # 10° counter-clockwise
    tilted = cv2.warpAffine(image, turn, (1400, 900), borderMode=cv2.BORDER_REPLICATE)
    result = engine.read(jpeg(tilted), with_overlay=False)
    assert [canon(line.text) for line in result.lines] == ["Pump70K", "Tanklevel80"]
    for line in result.lines:
        (x0, y0), (x1, y1) = line.polygon[0], line.polygon[1]
        assert np.degrees(np.arctan2(y0 - y1, x1 - x0)) == pytest.approx(10, abs=2)


@pytest.mark.parametrize("degrees", [-10, 10])
def test_the_lines_of_a_tilted_plate_come_out_in_reading_order(engine: OcrEngine, degrees: int):
    image = paper(1080, 1920)
    drawn = [
        write(image, "MODEL X", (400, 400), 1.3, 3),  # short, over a long line whose far end rises above it
        write(image, "SERIAL 1234 5678 9012 3456 7890", (400, 455), 1.3, 3),
        write(image, "RATED 400 V", (400, 510), 1.3, 3),
        write(image, "LEFT", (400, 650), 1.3, 3),  # one row, far apart: on the tilt one is a line higher
        write(image, "RIGHT", (1100, 650), 1.3, 3),
    ]
    turn = cv2.getRotationMatrix2D((960, 540), degrees, 1.0)
    tilted = cv2.warpAffine(image, turn, (1920, 1080), borderMode=cv2.BORDER_REPLICATE)
    result = engine.read(jpeg(tilted), with_overlay=False)
    assert [canon(line.text) for line in result.lines] == [canon(d.text) for d in drawn]


def test_an_upside_down_line_is_turned_by_the_classifier(engine: OcrEngine):
    image = paper(400, 1400)
    write(image, "Flow rate 35 m3 per h", (60, 240), 2.0, 5)
    [line] = engine.read(jpeg(cv2.rotate(image, cv2.ROTATE_180)), with_overlay=False).lines
    assert canon(line.text) == canon("Flow rate 35 m3 per h")


def test_the_overlay_is_a_jpeg_with_the_boxes_drawn(engine: OcrEngine, sign):
    result = engine.read(sign[0])
    assert result.overlay_jpeg is not None and result.overlay_jpeg[:2] == b"\xff\xd8"
    drawn = decode(result.overlay_jpeg)
    assert (drawn.width, drawn.height) == (2048, 1280)  # downscaled to the overlay's long side

    def amber(img: np.ndarray) -> np.ndarray:
        mask: np.ndarray = np.abs(img.astype(int) - [0, 200, 255]).sum(axis=2) < 120
        return mask

    mask = amber(drawn.pixels)
    scale = 2048 / 2400
    for line in result.lines:
        x0, y0, x1, y1 = (int(v * scale) for v in polygon_box(line.polygon))
        assert mask[y0 - 3 : y1 + 4, x0 - 3 : x1 + 4].sum() > (x1 - x0 + y1 - y0)  # the outline is there
    assert not mask[:100].any()  # nothing drawn where there is no text
    assert engine.read(sign[0], with_overlay=False).overlay_jpeg is None


def test_warm_runs_each_session_once_on_the_cpu(model_dir, sign):
    small = OcrEngine.load(model_dir, providers=["CPUExecutionProvider"], threads=2, long_side=320)
    assert small.settings.det.buckets == ((256, 320), (320, 256), (192, 320), (320, 192), (320, 320))
    assert small.warm() == 1 + 1 + 1  # det, rec, cls: the largest shape, batch size 1, on the CPU
    assert not small.on_gpu
    assert small.read(sign[0], with_overlay=False).lines  # shapes not warmed still run


def test_an_engine_without_the_classifier_still_reads(model_dir, sign):
    engine = OcrEngine.load(model_dir, providers=["CPUExecutionProvider"], threads=2, use_cls=False)
    assert [canon(line.text) for line in engine.read(sign[0], with_overlay=False).lines] == [
        canon(d.text) for d in sign[1]
    ]
