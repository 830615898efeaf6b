"""A node whose device fails every run after it served (a sticky CUDA error poisons the process's context) stops,
to be started again on a fresh context: it used to stay `ready` and fail every task sent to it in a tenth of a
second, and Batch's retries, which Pack scheduling sends back to it, were spent in seconds."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from batch_tasks.models import serving
from batch_tasks.node.registry import Registry
from batch_tasks.node.server import NodeServer
from batch_tasks.node.settings import NodeSettings, StorageSettings
from batch_tasks.node.shutdown import EXIT_FAILING
from batch_tasks.node.watchdog import FAILED_RUNS_TO_RESTART, Watchdog
from batch_tasks.ocr.imaging import DecodedImage
from batch_tasks.ocr.opencv import cv2
from tests.support.onnx_models import write_classify_model
from tests.unit.node.test_server_loading_burst import InProcessPool

MODEL, OTHER = "colours/1.0.0", "colours/2.0.0"
POISONED = "[ONNXRuntimeError] : 1 : FAIL : CUDA failure 700: an illegal memory access was encountered"


def _watchdog() -> tuple[Watchdog, list[str]]:
    stops: list[str] = []
    return Watchdog(stops.append), stops


def test_three_failed_runs_in_a_row_after_reading_stop_the_server_once() -> None:
    watchdog, stops = _watchdog()
    watchdog.read(MODEL)
    for _ in range(FAILED_RUNS_TO_RESTART + 2):
        watchdog.run_failed(MODEL, RuntimeError(POISONED))
    assert len(stops) == 1 and MODEL in stops[0] and "CUDA failure 700" in stops[0]


def test_a_failed_batch_counts_once_whatever_its_photos() -> None:
    """Every photo of a failed batch gets the same exception: a full batch is one failed run, not eight."""
    watchdog, stops = _watchdog()
    watchdog.read(MODEL)
    for _ in range(FAILED_RUNS_TO_RESTART - 1):
        batch_error = RuntimeError(POISONED)
        for _photo in range(8):
            watchdog.run_failed(MODEL, batch_error)
    assert stops == []


def test_a_photo_read_between_failures_starts_the_count_again() -> None:
    watchdog, stops = _watchdog()
    watchdog.read(MODEL)
    for _ in range(3):
        for _ in range(FAILED_RUNS_TO_RESTART - 1):
            watchdog.run_failed(MODEL, RuntimeError(POISONED))
        watchdog.read(MODEL)
    assert stops == []


def test_a_model_that_never_read_a_photo_is_not_the_devices_fault() -> None:
    """A version that fails from its first photo on is broken: restarting would not mend it, and would take the
    node's other models down with it again and again."""
    watchdog, stops = _watchdog()
    watchdog.read(OTHER)
    for _ in range(FAILED_RUNS_TO_RESTART * 3):
        watchdog.run_failed(MODEL, RuntimeError("shape mismatch"))
    assert stops == []


class Device:
    """A model's runs, which raise once the device is poisoned, as every run in a poisoned CUDA context does."""

    def __init__(self) -> None:
        self.poisoned = False

    def load(self, folder: Path) -> serving.ServedModel:
        model = serving.load_model(folder, ["CPUExecutionProvider"])
        run = model.run_batch

        def run_batch(images: Sequence[DecodedImage]) -> Sequence[Any]:
            if self.poisoned:
                raise RuntimeError(POISONED)
            return run(images)

        model.run_batch = run_batch  # type: ignore[method-assign]
        return model


def test_the_server_stops_not_ready_after_failed_runs_and_a_bad_photo_never_counts(tmp_path: Path) -> None:
    photo, junk = tmp_path / "green.jpg", tmp_path / "junk.jpg"
    assert cv2.imwrite(str(photo), np.full((32, 32, 3), (0, 255, 0), np.uint8))
    junk.write_bytes(b"not a photo")
    models = tmp_path / "models"
    write_classify_model(models / "colours" / "1.0.0")
    settings = NodeSettings(shared_dir=tmp_path, socket=tmp_path / "node.sock", models_dir=models,
                            storage=StorageSettings(), warm_models=(MODEL,))  # fmt: skip
    device = Device()
    server = NodeServer(settings)
    server.pool.shutdown()  # never started: no submission spawned a worker
    server.pool = InProcessPool()  # type: ignore[assignment]
    server.registry = Registry(models, device.load, capacity=2, max_batch=8, max_wait=0.001, max_queue=64)

    async def read(path: Path) -> dict[str, Any]:
        return await server.dispatch({"op": "read", "model": MODEL, "path": str(path)})

    async def scenario() -> list[dict[str, Any]]:
        await server.warm()
        replies = [await read(photo)]  # the model reads: its device works
        for _ in range(FAILED_RUNS_TO_RESTART * 3):
            replies.append(await read(junk))  # the photo's fault, however often
        assert server.health()["ready"] is True
        device.poisoned = True
        for _ in range(FAILED_RUNS_TO_RESTART):
            replies.append(await read(photo))
        replies.append(await read(photo))  # after the stop: refused, not run
        return replies

    try:
        replies = asyncio.run(scenario())
    finally:
        for loaded in server.registry.peek():
            loaded.batcher.stop()
    codes = [r["error"]["code"] if not r["ok"] else "ok" for r in replies]
    assert codes == [
        "ok",
        *["bad_input"] * (FAILED_RUNS_TO_RESTART * 3),
        *["inference_failed"] * FAILED_RUNS_TO_RESTART,
        "shutting_down",
    ]
    health = server.health()
    assert health["ready"] is False and MODEL in str(health["stopping"])
    assert server.shutdown.requested.is_set() and server.shutdown.exit_code == EXIT_FAILING
