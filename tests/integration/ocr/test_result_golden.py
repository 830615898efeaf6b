"""The result JSON format, pinned: `OcrResult.to_dict()` of one generated photo against a committed file.

Structure is compared exactly (keys, types, line count, texts in reading order), numbers within a tolerance
that ONNX Runtime's float differences between CPUs stay far inside. After a deliberate change of the format or
of the engine's output, rewrite the file with `SITELENS_UPDATE_GOLDEN=1 pytest tests/integration/ocr -k golden`
and review its diff.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pytest

from batch_tasks.ocr.engine import OcrEngine
from sitelens.field_photos import render

pytestmark = pytest.mark.integration

GOLDEN = Path(__file__).parent / "golden" / "field-1080p-0001.json"
PHOTO_SEED = 1  # 1080p, 7 lines: a label tilted by 9°, then a sign upside down and tilted the other way
TOLERANCE = {"confidence": 0.03, "box_score": 0.03, "polygon": 4.0}  # probabilities; pixels


@pytest.fixture(scope="module")
def produced(engine: OcrEngine) -> dict[str, Any]:
    photo = render(PHOTO_SEED)
    document: dict[str, Any] = json.loads(json.dumps(engine.read(photo.jpeg, with_overlay=False).to_dict()))
    if os.environ.get("SITELENS_UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(dumps(document))
    return document


def dumps(document: dict[str, Any]) -> str:
    """JSON with one line of the document per line of the file, so a diff shows which line changed."""
    lines = ",\n".join(f"  {json.dumps(line)}" for line in document["lines"])
    return f'{{"width": {document["width"]}, "height": {document["height"]}, "lines": [\n{lines}\n]}}\n'


@pytest.fixture(scope="module")
def golden() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(GOLDEN.read_text())
    return document


def shape(value: Any) -> Any:
    """The document with every leaf replaced by its type's name (lists keep their lengths)."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(item) for item in value]
    return type(value).__name__


def test_the_structure_is_the_committed_one(produced, golden):
    assert shape(produced) == shape(golden)
    assert list(produced) == ["width", "height", "lines"]
    assert all(list(line) == ["text", "confidence", "box_score", "polygon"] for line in produced["lines"])


def test_the_texts_and_size_are_the_committed_ones(produced, golden):
    assert (produced["width"], produced["height"]) == (golden["width"], golden["height"]) == (1920, 1080)
    assert [line["text"] for line in produced["lines"]] == [line["text"] for line in golden["lines"]]
    assert len(golden["lines"]) == len(render(PHOTO_SEED).lines)


def test_the_numbers_are_the_committed_ones_within_tolerance(produced, golden):
    for mine, theirs in zip(produced["lines"], golden["lines"], strict=True):
        for key in ("confidence", "box_score"):
            assert 0 <= mine[key] <= 1
            assert mine[key] == pytest.approx(theirs[key], abs=TOLERANCE[key]), (mine["text"], key)
        for (x, y), (gx, gy) in zip(mine["polygon"], theirs["polygon"], strict=True):
            assert math.hypot(x - gx, y - gy) <= TOLERANCE["polygon"], (mine["text"], mine["polygon"])


def test_the_golden_file_reads_what_was_drawn(golden):
    """The committed file itself is right, not merely stable: its texts are the drawn ones, up to the canon."""
    from tests.integration.ocr.photos import canon

    drawn = sorted(canon(line.text) for line in render(PHOTO_SEED).lines)
    assert sorted(canon(line["text"]) for line in golden["lines"]) == drawn
