"""One interface for every kind: load_model picks by task, failures become the node's codes, results their schema."""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from batch_tasks.errors import ModelOutputInvalid, NodeError, Stopped
from batch_tasks.models import serving, trial
from batch_tasks.models.manifest import ManifestError
from batch_tasks.node import jobs
from batch_tasks.node import registry as registry_module
from batch_tasks.node.registry import Registry
from batch_tasks.ocr.imaging import DecodedImage
from batch_tasks.ocr.result import Line, OcrResult
from batch_tasks.vision.detect import DetectModel
from batch_tasks.vision.results import Detection, DetectResult
from tests.support.onnx_models import (
    classify_graph,
    classify_manifest,
    write_classify_model,
    write_detect_model,
    write_folder,
    write_memory_hungry_model,
    write_overflowing_model,
)
from tests.support.waiting import wait_for
from tests.unit.ocr.images import jpeg

CPU = ["CPUExecutionProvider"]


def test_the_task_picks_the_implementation_and_unknown_tasks_are_refused(tmp_path: Path) -> None:
    assert isinstance(serving.load_model(write_detect_model(tmp_path / "d"), CPU), DetectModel)
    doc = classify_manifest()
    write_folder(tmp_path / "s", classify_graph(3), doc | {"task": "segment"})
    with pytest.raises(ManifestError, match="task 'segment' is not served"):
        serving.load_model(tmp_path / "s", CPU)


def test_a_manifest_naming_what_the_graph_lacks_does_not_load(tmp_path: Path) -> None:
    folder = write_classify_model(tmp_path / "m")  # the graph's output is "scores"
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["output"]["name"] = "probs"
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ManifestError, match=r"'output\.name' 'probs' is not an output of the graph"):
        serving.load_model(folder, CPU)
    manifest["output"]["name"], manifest["input"]["name"] = "scores", "pixels"
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ManifestError, match=r"'input\.name' 'pixels' is not an input of the graph"):
        serving.load_model(folder, CPU)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (RuntimeError("[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : Failed to allocate memory for requested buffer"),
         "model_out_of_memory"),
        (RuntimeError("CUDA failure 2: out of memory ; GPU=0"), "model_out_of_memory"),
        (MemoryError("std::bad_alloc"), "model_out_of_memory"),
        (RuntimeError("[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : Got invalid dimensions"), "inference_failed"),
        (ModelOutputInvalid("wrong shape"), "model_output_invalid"),
    ],
)  # fmt: skip
def test_failures_become_the_nodes_codes(error: BaseException, code: str) -> None:
    assert serving.failure(error).code == code


def test_result_documents_carry_the_schema_of_their_kind() -> None:
    request = jobs.JobRequest(job_id="j1", task_id="j1", attempt=1, model="defects/1.0.0", path="p")
    result = DetectResult(40, 30, (Detection("crack", 0, 0.9, (1.0, 2.0, 3.0, 4.0)),))
    doc = json.loads(jobs.result_document(request, result, provider="CPU", timings_ms={"decode": 1.04}, task="detect"))
    assert doc == {"schema": "sitelens.detect.result/1", "job_id": "j1", "model": {"name": "defects",
                   "version": "1.0.0"}, "result": {"width": 40, "height": 30, "boxes": [{"label": "crack",
                   "class_id": 0, "score": 0.9, "box": [1.0, 2.0, 3.0, 4.0]}]}, "timings_ms": {"decode": 1.0},
                   "node": {"provider": "CPU", "attempt": 1}}  # fmt: skip
    assert serving.count(result) == 1


def test_ocr_results_keep_their_schema_and_overlay_polygons() -> None:
    request = jobs.JobRequest(job_id="j1", task_id="j1", attempt=1, model="ocr/ppocrv4", path="p")
    result = OcrResult(10, 10, (Line("A", 0.9, 0.8, ((0.0, 0.0), (4.0, 0.0), (4.0, 2.0), (0.0, 2.0))),))
    assert json.loads(jobs.result_document(request, result, provider="CPU", timings_ms={}))["schema"] == jobs.SCHEMA
    assert serving.marks(result).polygons == [[[0.0, 0.0], [4.0, 0.0], [4.0, 2.0], [0.0, 2.0]]]


def test_the_registry_gives_each_model_its_own_batch_size(tmp_path: Path) -> None:
    write_classify_model(tmp_path / "colours" / "1.0.0")  # limits.max_batch 4
    registry = Registry(tmp_path, lambda folder: serving.load_model(folder, CPU), capacity=2, max_batch=16,
                        max_wait=0.001, max_queue=8)  # fmt: skip
    loaded = registry.get("colours/1.0.0")
    try:
        assert loaded.batcher.max_batch == 4 and loaded.warm_runs == 1
        image = DecodedImage.from_array(np.full((10, 10, 3), (0, 255, 0), np.uint8))
        assert loaded.batcher.submit(image).result(30).to_dict()["labels"][0]["label"] == "green"
    finally:
        loaded.batcher.stop()


def test_a_model_loading_holds_up_neither_health_nor_the_warm_models(tmp_path: Path) -> None:
    """The server answers health on its event loop from `peek`: a load held the one lock for its whole
    download, load and warm-up (minutes on a GPU), so health timed out and every waiting task exited 5."""
    write_classify_model(tmp_path / "colours" / "1.0.0")
    write_classify_model(tmp_path / "colours" / "2.0.0", version="2.0.0")
    loading, release = threading.Event(), threading.Event()

    def loader(folder: Path) -> serving.ServedModel:
        if folder.name == "2.0.0":
            loading.set()
            release.wait(60)  # held until the test has asked what it asks while this load runs
        return serving.load_model(folder, CPU)

    registry = Registry(tmp_path, loader, capacity=2, max_batch=8, max_wait=0.001, max_queue=8)
    warm = registry.get("colours/1.0.0")
    slow = threading.Thread(target=registry.get, args=("colours/2.0.0",))
    slow.start()
    try:
        assert loading.wait(30)
        answers: dict[str, Any] = {}
        asking = threading.Thread(
            target=lambda: answers.update(peek=registry.peek(), get=registry.get("colours/1.0.0"))
        )
        asking.start()
        asking.join(10)  # a deadline, not a pace: both answer from the tables, or wait for the release
        assert not asking.is_alive(), "peek or a warm model's get waited for another model's load"
        assert [m.model_id for m in answers["peek"]] == ["colours/1.0.0"] and answers["get"] is warm
    finally:
        release.set()
        slow.join(60)
    assert [m.model_id for m in registry.peek()] == ["colours/1.0.0", "colours/2.0.0"]
    for m in registry.peek():
        m.batcher.stop()


def test_a_photo_too_large_for_memory_fails_alone_not_its_batch_mates(tmp_path: Path) -> None:
    write_memory_hungry_model(tmp_path / "hungry" / "1.0.0", limits={"max_batch": 2})  # a bright photo: 256 GiB
    registry = Registry(tmp_path, lambda f: serving.load_model(f, CPU), capacity=2, max_batch=8, max_wait=10.0,
                        max_queue=8)  # fmt: skip
    loaded = registry.get("hungry/1.0.0")
    try:
        bright = loaded.batcher.submit(DecodedImage.from_array(np.full((10, 10, 3), 255, np.uint8)))
        dark = loaded.batcher.submit(DecodedImage.from_array(np.zeros((10, 10, 3), np.uint8)))
        assert dark.result(30).to_dict()["labels"]  # together they asked for 128 GiB; alone it fits
        with pytest.raises(Exception) as caught:
            bright.result(30)
        assert serving.failure(caught.value).code == "model_out_of_memory"
    finally:
        loaded.batcher.stop()
    assert loaded.batcher.stats.sizes == {2: 1} and loaded.batcher.stats.failures == 1  # one batch, split once


def test_a_photo_whose_output_is_not_finite_fails_alone_not_its_batch_mates(tmp_path: Path) -> None:
    """model_output_invalid is final for the photo (the app ends its job FAILED): batch-mates must not share it."""
    write_overflowing_model(tmp_path / "overflowing" / "1.0.0")
    registry = Registry(tmp_path, lambda f: serving.load_model(f, CPU), capacity=2, max_batch=8, max_wait=10.0,
                        max_queue=8)  # fmt: skip
    loaded = registry.get("overflowing/1.0.0")
    try:
        photos = [np.full((10, 10, 3), 255, np.uint8)] + [np.full((10, 10, 3), v, np.uint8) for v in (0, 60, 120)]
        futures = [loaded.batcher.submit(DecodedImage.from_array(p)) for p in photos]  # one full batch of 4
        for later in futures[1:]:
            assert later.result(30).to_dict()["labels"]
        with pytest.raises(ModelOutputInvalid):
            futures[0].result(30)
    finally:
        loaded.batcher.stop()
    assert loaded.batcher.stats.sizes == {4: 1} and loaded.batcher.stats.failures == 1


def test_a_model_that_does_not_load_is_unavailable_not_a_crash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = write_classify_model(tmp_path / "bad" / "1.0.0")
    (folder / "model.onnx").write_bytes(b"garbage")
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"]["model"].update(sha256=hashlib.sha256(b"garbage").hexdigest(), bytes=7)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    registry = Registry(tmp_path, lambda f: serving.load_model(f, CPU), capacity=2, max_batch=8, max_wait=0.001,
                        max_queue=8)  # fmt: skip
    with pytest.raises(NodeError) as caught:
        registry.get("bad/1.0.0")
    assert caught.value.code == "model_unavailable" and "InvalidProtobuf" in caught.value.message
    write_classify_model(folder)  # mended on disk: not tried again at once (each photo would reload it)
    with pytest.raises(NodeError, match="InvalidProtobuf"):
        registry.get("bad/1.0.0")
    monkeypatch.setattr(registry_module, "RETRY_FAILED_LOAD_S", 0.0)  # the wait is over: loaded again
    loaded = registry.get("bad/1.0.0")
    loaded.batcher.stop()
    assert loaded.engine.manifest.name == "colours"


def test_a_download_that_does_not_verify_is_a_failed_load_not_downloaded_again_for_each_photo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A version whose stored file differs from its manifest was downloaded again for every photo: the failure
    skipped the failed-load table, so the retry wait never applied."""
    published = write_classify_model(tmp_path / "published")
    (published / "model.onnx").write_bytes((published / "model.onnx").read_bytes() + b"\0")
    downloads: list[str] = []

    def download(name: str, version: str, dest: Path) -> None:
        downloads.append(f"{name}/{version}")
        shutil.copytree(published, dest, dirs_exist_ok=True)

    registry = Registry(tmp_path / "node", lambda f: serving.load_model(f, CPU), capacity=2, max_batch=8,
                        max_wait=0.001, max_queue=8, download=download)  # fmt: skip
    for _ in range(3):  # three photos of the version
        with pytest.raises(NodeError) as caught:
            registry.get("colours/1.0.0")
        assert caught.value.code == "model_unavailable" and "does not verify" in caught.value.message
    assert downloads == ["colours/1.0.0"]
    write_classify_model(published)  # mended in storage
    monkeypatch.setattr(registry_module, "RETRY_FAILED_LOAD_S", 0.0)  # the wait is over: downloaded again
    loaded = registry.get("colours/1.0.0")
    loaded.batcher.stop()
    assert downloads == ["colours/1.0.0"] * 2


def test_an_evicted_model_still_reads_the_photos_of_the_requests_that_hold_it(tmp_path: Path) -> None:
    """A request takes its model before decoding its photo; another request's model loaded meanwhile evicts it
    (an A/B pair beside OCR on a cache of 2). Its photo was refused as `shutting_down`, and the task retried."""
    write_classify_model(tmp_path / "colours" / "1.0.0")
    write_classify_model(tmp_path / "colours" / "2.0.0", version="2.0.0")
    registry = Registry(tmp_path, lambda f: serving.load_model(f, CPU), capacity=1, max_batch=8, max_wait=0.001,
                        max_queue=8)  # fmt: skip
    green = DecodedImage.from_array(np.full((10, 10, 3), (0, 255, 0), np.uint8))
    held = registry.hold("colours/1.0.0")  # request 1 decodes its photo...
    other = registry.get("colours/2.0.0")  # ...while request 2 loads the B side
    try:
        assert [m.model_id for m in registry.peek()] == ["colours/2.0.0"] and registry.evictions == 1
        assert held.batcher.submit(green).result(30).to_dict()["labels"][0]["label"] == "green"
    finally:
        registry.release(held)
        other.batcher.stop()

    def unloaded() -> bool:  # the last holder gone, the evicted model's batcher stops
        try:
            held.batcher.submit(green)
        except Stopped:
            return True
        return False

    wait_for(unloaded, 30, "the evicted model's batcher to stop after its last holder")


def test_trial_runs_photos_as_a_node_would_and_reports_failures_per_photo(tmp_path: Path) -> None:
    folder = write_classify_model(tmp_path / "m")
    (tmp_path / "red.jpg").write_bytes(jpeg(np.full((30, 40, 3), (0, 0, 255), np.uint8)))
    (tmp_path / "text.txt").write_text("not a photo")
    red, text, missing = trial.run(folder, [tmp_path / "red.jpg", tmp_path / "text.txt", tmp_path / "none.jpg"], CPU)
    assert red["schema"] == "sitelens.classify.result/1" and red["model"] == {"name": "colours", "version": "1.0.0"}
    assert red["result"]["labels"][0]["label"] == "red" and (red["result"]["width"], red["result"]["height"]) == (
        40,
        30,
    )
    assert text["error"]["code"] == "bad_input" and missing["error"]["code"] == "input_missing"
    broken = write_classify_model(tmp_path / "b", classes=4)
    assert trial.run(broken, [tmp_path / "red.jpg"], CPU)[0]["error"]["code"] == "model_output_invalid"


def test_an_allocation_that_onnx_runtime_refuses_is_model_out_of_memory_and_the_model_goes_on(tmp_path: Path) -> None:
    folder = write_memory_hungry_model(tmp_path / "m")  # a bright photo asks for 256 GiB
    (tmp_path / "dark.jpg").write_bytes(jpeg(np.zeros((30, 40, 3), np.uint8)))
    (tmp_path / "bright.jpg").write_bytes(jpeg(np.full((30, 40, 3), 255, np.uint8)))
    dark, bright, again = trial.run(
        folder, [tmp_path / "dark.jpg", tmp_path / "bright.jpg", tmp_path / "dark.jpg"], CPU
    )
    assert (
        bright["error"]["code"] == "model_out_of_memory" and "Failed to allocate memory" in bright["error"]["message"]
    )
    assert dark["schema"] == again["schema"] == "sitelens.classify.result/1"


def test_a_model_the_disk_cannot_hold_is_that_models_failure_not_the_servers(tmp_path: Path) -> None:
    """A download that meets a full disk (ENOSPC) is `model_unavailable` for that model, kept for the retry wait
    (one download, not one per photo), never an OSError out of the registry that would stop the server."""
    attempts: list[str] = []

    def disk_full(name: str, version: str, dest: Path) -> None:
        attempts.append(f"{name}/{version}")
        raise OSError(28, "No space left on device")

    registry = Registry(tmp_path, lambda f: serving.load_model(f, CPU), capacity=2, max_batch=8, max_wait=0.001,
                        max_queue=8, download=disk_full)  # fmt: skip
    for _ in range(3):
        with pytest.raises(NodeError) as refused:
            registry.get("colours/1.0.0")
        assert refused.value.code == "model_unavailable" and "No space left" in refused.value.message
    assert attempts == ["colours/1.0.0"]
