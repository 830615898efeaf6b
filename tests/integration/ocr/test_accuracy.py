"""Accuracy of the real PP-OCRv4 model on the CPU over generated field photos: nameplates, signs and meter
labels in five DejaVu fonts, cap heights from legible-small to large, tilted by up to ±10°, some plates upside
down, on textured backgrounds with uneven light, blur, sensor noise and JPEG quality 60-90, in 1080p and 12 MP.

Texts are compared with word spaces (the engine restores the ones the model drops, see batch_tasks/ocr/ctc.py)
and one canonicalisation, `o_as_zero`, for a quirk of this model rather than a reading error: trained mostly
on Chinese text, it often reads the letter O in Latin words as the digit 0 ("FL0W"). The generator's serials
leave O out, as real serial schemes do, so no identifier depends on the difference. The rate with nothing
forgiven is held to the same bar.
"""

from __future__ import annotations

import numpy as np
import pytest

from batch_tasks.ocr.engine import OcrEngine
from batch_tasks.ocr.result import OcrResult
from sitelens.field_photos import FieldPhoto, photo_set, render
from tests.integration.ocr.scoring import Score, edit_distance, score

pytestmark = pytest.mark.integration

MAX_CER = 0.03
FLIPPED = {"1080p": (400, 401), "12mp": (600, 601)}  # seeds rendered with every plate upside down


def o_as_zero(text: str) -> str:
    return text.replace("O", "0")


@pytest.fixture(scope="module")
def field_set() -> list[FieldPhoto]:
    """24 photos, 188 lines: 16 in 1080p and 8 in 12 MP, 4 of them with every plate upside down."""
    return [
        *photo_set(14, seed=300, size="1080p"),
        *(render(seed, "1080p", flip_180=True) for seed in FLIPPED["1080p"]),
        *photo_set(6, seed=500, size="12mp"),
        *(render(seed, "12mp", flip_180=True) for seed in FLIPPED["12mp"]),
    ]


@pytest.fixture(scope="module")
def read(engine: OcrEngine, field_set: list[FieldPhoto]) -> list[OcrResult]:
    return engine.run_batch([photo.jpeg for photo in field_set], with_overlay=False)


@pytest.fixture(scope="module")
def scored(field_set: list[FieldPhoto], read: list[OcrResult]) -> Score:
    return score(field_set, read, o_as_zero)


def test_the_set_is_as_hard_as_it_says(field_set: list[FieldPhoto]):
    lines = [line for photo in field_set for line in photo.lines]
    turns = [np.degrees(np.arctan2(p[0][1] - p[1][1], p[1][0] - p[0][0])) for p in (ln.polygon for ln in lines)]
    assert len(lines) >= 150
    assert sum(abs(t) > 90 for t in turns) >= 20  # upside down
    assert max(min(abs(t), 180 - abs(t)) for t in turns) > 8  # tilted
    assert {photo.width for photo in field_set} == {1920, 4032}


def test_the_character_error_rate_is_at_most_3_percent(scored: Score):
    assert scored.cer <= MAX_CER, scored.summary()
    assert scored.raw_cer <= MAX_CER, scored.summary()


def test_every_drawn_line_is_found_where_it_was_drawn(scored: Score):
    assert not scored.missed, scored.summary()
    assert min(scored.coverage) >= 0.8, scored.summary()  # the read polygon covers the ink


def test_nothing_is_read_where_no_text_was_drawn(scored: Score):
    assert not scored.extra, scored.summary()


def test_upside_down_plates_are_read_the_right_way_up(field_set: list[FieldPhoto], read: list[OcrResult]):
    names = {f"field-{size}-{seed:04d}" for size, seeds in FLIPPED.items() for seed in seeds}
    flipped = [(photo, result) for photo, result in zip(field_set, read, strict=True) if photo.name in names]
    assert len(flipped) == 4
    sub = score([p for p, _ in flipped], [r for _, r in flipped], o_as_zero)
    assert sub.cer <= MAX_CER, sub.summary()


def test_the_scoring_counts_what_it_should():
    assert edit_distance("SERIAL 88213-A", "SERIAL 88213-A") == 0
    assert edit_distance("PUMP P-104", "PUMPP-I04") == 2
    assert edit_distance("", "KWH") == 3 and edit_distance("HZ", "") == 2
