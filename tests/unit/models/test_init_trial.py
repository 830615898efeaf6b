"""`sitelens models test`: a folder made by `models init` reads photos as a node would, and failures show."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from batch_tasks.ocr.opencv import cv2
from sitelens.cli import main
from tests.support.onnx_models import write_detect_model


def jpeg(path: Path, height: int, width: int) -> Path:
    ok, data = cv2.imencode(".jpg", np.full((height, width, 3), 90, np.uint8))
    assert ok
    path.write_bytes(data.tobytes())
    return path


def documents(out: str) -> list[dict[str, object]]:
    """The JSON documents printed after each `# PHOTO` line: stdout holds nothing else."""
    chunks = [c for c in out.split("\n# ") if c.strip()]
    return [json.loads(c.split("\n", 1)[1]) for c in chunks]


def test_each_photo_gets_the_result_document_a_node_would_write(tmp_path, capsys: pytest.CaptureFixture[str]):
    folder = write_detect_model(tmp_path / "defects")  # one crack, centred, half the 64 x 64 letterboxed input
    photo = jpeg(tmp_path / "wide.jpg", 480, 640)
    assert main(["models", "test", str(folder), str(photo)]) == 0
    [doc] = documents(capsys.readouterr().out)
    assert doc["schema"] == "sitelens.detect.result/1"
    result = doc["result"]
    assert isinstance(result, dict) and (result["width"], result["height"]) == (640, 480)
    [box] = result["boxes"]
    assert box["label"] == "crack" and box["box"] == pytest.approx([160, 80, 480, 400])  # in the photo's pixels


def test_a_photo_that_fails_prints_the_nodes_reason_and_exits_1(tmp_path, capsys: pytest.CaptureFixture[str]):
    folder = write_detect_model(tmp_path / "defects")
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not really a jpeg")
    good = jpeg(tmp_path / "good.jpg", 64, 64)
    assert main(["models", "test", str(folder), str(good), str(broken)]) == 1
    said = capsys.readouterr()
    first, second = documents(said.out)
    assert first["schema"] == "sitelens.detect.result/1"
    assert second["photo"] == str(broken) and second["error"]["code"] == "bad_input"  # type: ignore[index]
    assert "1 of 2 photos failed" in said.err and "photos failed" not in said.out  # the documents alone on stdout


def test_a_folder_that_does_not_load_exits_1(tmp_path, capsys: pytest.CaptureFixture[str]):
    assert main(["models", "test", str(tmp_path), str(jpeg(tmp_path / "p.jpg", 8, 8))]) == 1
    said = capsys.readouterr()
    assert "does not load" in said.err and said.out == ""
