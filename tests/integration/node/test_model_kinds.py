"""One node server serving an OCR, a classify and a detect model side by side, and broken models beside them
that fail only their own photos (a graph whose output breaks its manifest, a graph that does not load)."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from azure.storage.blob import BlobServiceClient

from batch_tasks.ocr.opencv import cv2
from tests.integration.node.conftest import Node, completion_messages, node_env
from tests.integration.ocr import photos
from tests.support.onnx_models import (
    write_classify_model,
    write_detect_model,
    write_folder,
    write_memory_hungry_model,
)

OCR, COLOURS, DEFECTS, BROKEN, UNLOADABLE, HUNGRY = (
    "ocr/ppocrv4", "colours/1.0.0", "defects/1.0.0", "broken/1.0.0", "unloadable/1.0.0", "hungry/1.0.0")  # fmt: skip


def _unloadable(dest: Path) -> None:
    """A folder that verifies (the checksums are right) but whose graph ONNX Runtime refuses."""
    write_classify_model(dest)
    (dest / "model.onnx").write_bytes(b"not an onnx graph")
    manifest = json.loads((dest / "manifest.json").read_text())
    manifest.pop("files")
    graph = type("Raw", (), {"SerializeToString": lambda self: b"not an onnx graph"})()
    write_folder(dest, graph, manifest)


@pytest.fixture(scope="module")
def kinds(tmp_path_factory: pytest.TempPathFactory, models_dir: Path, storage: str) -> Iterator[Node]:
    root = tmp_path_factory.mktemp("kinds")
    local = root / "models"
    shutil.copytree(models_dir / "ocr" / "ppocrv4", local / "ocr" / "ppocrv4")
    write_classify_model(local / "colours" / "1.0.0")
    write_detect_model(local / "defects" / "1.0.0")
    write_classify_model(local / "broken" / "1.0.0", name="broken", classes=5)  # 5 scores, 3 labels
    _unloadable(local / "unloadable" / "1.0.0")
    write_memory_hungry_model(local / "hungry" / "1.0.0")  # a bright photo asks ONNX Runtime for 256 GiB
    shared = root / "shared"
    warm = ",".join([OCR, COLOURS, DEFECTS, UNLOADABLE])
    env = node_env(shared, SITELENS_STORAGE_CONNECTION=storage, SITELENS_MODELS_DIR=str(local),
                   SITELENS_MODEL_CACHE="5", SITELENS_WARM_MODELS=warm)  # fmt: skip
    # A warm model that does not load leaves the server up (the start task fails the node: it gets no tasks).
    with Node(shared, env).running(not_served=UNLOADABLE) as n:
        yield n


def _red(folder: Path) -> Path:
    path = folder / "red.jpg"
    path.write_bytes(photos.jpeg(np.full((300, 400, 3), (0, 0, 255), np.uint8)))
    return path


def _text(folder: Path) -> Path:
    image = photos.paper(720, 1280)
    photos.write(image, "METER 4512", (150, 320), 2.0, 4)
    path = folder / "text.jpg"
    path.write_bytes(photos.jpeg(image))
    return path


def _read(node: Node, model: str, path: Path, **extra: str) -> dict[str, Any]:
    return node.call({"op": "read", "model": model, "path": str(path), **extra})


def test_health_lists_each_served_model_with_its_kind_and_batch_size(kinds: Node) -> None:
    health = kinds.health()
    assert health["ready"] is True
    models = {m["id"]: m for m in health["models"]}
    assert set(models) == {OCR, COLOURS, DEFECTS}  # the unloadable one is not served
    assert {i: m["task"] for i, m in models.items()} == {OCR: "ocr", COLOURS: "classify", DEFECTS: "detect"}
    assert models[COLOURS]["max_batch"] == 4 and models[DEFECTS]["max_batch"] == 4  # the manifests' limits
    assert models[OCR]["max_batch"] == health["max_batch"]  # no limits: the node's setting


def test_three_kinds_answer_side_by_side(kinds: Node, tmp_path: Path) -> None:
    red, text = _red(tmp_path), _text(tmp_path)
    with ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(_read, kinds, model, path) for model, path in
                   [(OCR, text), (COLOURS, red), (DEFECTS, red)] * 2]  # fmt: skip
        replies = [f.result() for f in futures]
    assert all(r["ok"] for r in replies), replies
    ocr, colours, defects = replies[:3]
    assert [photos.canon(line["text"]) for line in ocr["result"]["lines"]] == ["METER4512"]
    assert ocr["task"] == "ocr" and colours["task"] == "classify" and defects["task"] == "detect"
    assert [x["label"] for x in colours["result"]["labels"]] == ["red", "green", "blue"]
    assert colours["result"]["labels"][0]["score"] > 0.5
    [box] = defects["result"]["boxes"]
    assert (box["label"], box["score"]) == ("crack", 0.9)
    assert box["box"] == pytest.approx([100, 50, 300, 250], abs=0.2)  # the input's middle, back through letterbox


def test_a_broken_model_fails_only_its_own_photos(kinds: Node, tmp_path: Path) -> None:
    red, text = _red(tmp_path), _text(tmp_path)
    pid = kinds.pid()
    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(_read, kinds, model, path) for model, path in
                   [(BROKEN, red), (COLOURS, red), (UNLOADABLE, red), (OCR, text)] * 2]  # fmt: skip
        replies = [f.result() for f in futures]
    broken, colours, unloadable, ocr = replies[:4]
    assert broken["error"]["code"] == "model_output_invalid" and broken["error"]["retryable"] is False
    assert "5 scores per image, the manifest 3 labels" in broken["error"]["message"]
    assert unloadable["error"]["code"] == "model_unavailable"
    assert [r["ok"] for r in replies[1::2]] == [True] * 4  # every photo of the sound models was read
    assert colours["result"]["labels"][0]["label"] == "red"
    assert [photos.canon(line["text"]) for line in ocr["result"]["lines"]] == ["METER4512"]
    assert kinds.pid() == pid and kinds.health()["ready"] is True
    failed = kinds.health()["requests"]
    assert failed["failed:model_output_invalid"] >= 2 and failed["failed:model_unavailable"] >= 2


def test_a_detect_job_writes_its_schema_and_an_overlay_with_the_boxes(
    kinds: Node, storage: str, tmp_path: Path
) -> None:
    job = "j_" + uuid.uuid4().hex[:26]
    done = kinds.task(job, str(_red(tmp_path)), "--model", DEFECTS)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["found"] == 1 and "lines" not in json.loads(done.stdout)  # the task's log line
    results = BlobServiceClient.from_connection_string(storage).get_container_client("results")
    doc = json.loads(results.download_blob(f"{job}/result.json").readall())
    assert doc["schema"] == "sitelens.detect.result/1"
    assert doc["model"] == {"name": "defects", "version": "1.0.0"}
    assert [b["label"] for b in doc["result"]["boxes"]] == ["crack"]
    overlay = cv2.imdecode(np.frombuffer(results.download_blob(f"{job}/overlay.jpg").readall(), np.uint8), 1)
    # Drawn on the photo as decoded for the model (at half size: the 64 px input needs no more).
    assert overlay is not None and overlay.shape == (150, 200, 3)
    edge = overlay[75, 50].astype(int)  # on the box's left edge: drawn in amber over the red photo
    assert edge[1] > 120, edge


def test_a_job_on_the_broken_model_fails_at_once_without_batch_retries(
    kinds: Node, storage: str, tmp_path: Path
) -> None:
    job = "j_" + uuid.uuid4().hex[:26]
    done = kinds.task(job, str(_red(tmp_path)), "--model", BROKEN)
    assert done.returncode == 6, done.stderr
    assert "model_output_invalid" in done.stdout + done.stderr
    # Every attempt would meet the same output: the app is told now, not after the task's retries.
    [message] = completion_messages(storage, job)
    assert (message["outcome"], message["error"]["code"]) == ("failed", "model_output_invalid")


def test_a_model_out_of_memory_fails_that_photo_and_every_model_serves_on(kinds: Node, tmp_path: Path) -> None:
    red, text = _red(tmp_path), _text(tmp_path)
    bright = tmp_path / "bright.jpg"
    bright.write_bytes(photos.jpeg(np.full((300, 400, 3), 255, np.uint8)))
    dark = tmp_path / "dark.jpg"
    dark.write_bytes(photos.jpeg(np.zeros((300, 400, 3), np.uint8)))
    refused = _read(kinds, HUNGRY, bright)
    assert refused["error"]["code"] == "model_out_of_memory" and refused["error"]["retryable"] is True
    assert "Failed to allocate memory" in refused["error"]["message"]
    assert _read(kinds, HUNGRY, dark)["ok"] is True  # the same model's next photo that fits
    assert _read(kinds, COLOURS, red)["result"]["labels"][0]["label"] == "red"
    assert [photos.canon(line["text"]) for line in _read(kinds, OCR, text)["result"]["lines"]] == ["METER4512"]
