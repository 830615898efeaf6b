"""A burst of requests for a model still loading leaves the server's threads to the other models' jobs.

Each request used to wait for its model on a thread of asyncio's default executor (`asyncio.to_thread`), which
has min(32, cpus + 4) threads: 8 on a 4-vCPU GPU node. A burst for a version still loading (a node just started,
a download of a minute) took them all, and every other `to_thread` queued behind the load: a loaded model's
requests, and the result writes and completion posts of its jobs.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from batch_tasks.models import serving
from batch_tasks.node import decoding
from batch_tasks.node.decoding import Decoded
from batch_tasks.node.registry import Registry
from batch_tasks.node.server import NodeServer
from batch_tasks.node.settings import NodeSettings, StorageSettings
from batch_tasks.ocr.opencv import cv2
from batch_tasks.vision.results import Marks
from tests.support.onnx_models import write_classify_model

T = TypeVar("T")
CPU = ["CPUExecutionProvider"]
EXECUTOR_THREADS = 4  # the default executor's size, fixed so the burst below fills it whatever this machine's cores
WARM, LOADING = "colours/1.0.0", "colours/2.0.0"


def _done(value: T) -> Future[T]:
    future: Future[T] = Future()
    future.set_result(value)
    return future


class InProcessPool:
    """The decode pool's decode (the workers' own function) done in this process, and a stand-in overlay: what is
    tested is the server's threads, not its worker processes."""

    workers, restarts = 0, 0

    def prime(self) -> None:
        pass

    def decode(self, path: str, min_long_side: int | None) -> Future[Decoded]:
        return _done(decoding._decode(path, min_long_side, os.getpid()))

    def draw_overlay(self, decoded: Decoded, marks: Marks) -> Future[bytes]:
        return _done(b"overlay")

    def shutdown(self) -> None:
        pass


class RecordingStore:
    def __init__(self) -> None:
        self.results: list[str] = []
        self.completions: list[dict[str, Any]] = []

    def write_results(self, job_id: str, result_json: bytes, overlay_jpeg: bytes | None) -> tuple[str, bytes]:
        self.results.append(job_id)
        return f"{job_id}/result.json", result_json

    def post_completion(self, message: dict[str, Any]) -> None:
        self.completions.append(message)


async def _until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `condition` from the event loop (no executor thread: the test fills them) until it holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f} s waiting for {what}"
        await asyncio.sleep(0.02)  # polling period of the condition check


def test_a_burst_for_a_loading_model_leaves_threads_for_another_models_job(tmp_path: Path) -> None:
    photo = tmp_path / "green.jpg"
    assert cv2.imwrite(str(photo), np.full((32, 32, 3), (0, 255, 0), np.uint8))
    models = tmp_path / "models"
    write_classify_model(models / "colours" / "1.0.0")
    write_classify_model(models / "colours" / "2.0.0", version="2.0.0")
    loading, release = threading.Event(), threading.Event()

    def loader(folder: Path) -> serving.ServedModel:
        if folder.name == "2.0.0":
            loading.set()
            release.wait(120)  # held until the other model's job has finished, or could not
        return serving.load_model(folder, CPU)

    settings = NodeSettings(shared_dir=tmp_path, socket=tmp_path / "node.sock", models_dir=models,
                            storage=StorageSettings(), warm_models=(WARM,))  # fmt: skip
    store = RecordingStore()
    server = NodeServer(settings, store=store)
    server.pool.shutdown()  # never started: no submission spawned a worker
    server.pool = InProcessPool()  # type: ignore[assignment]
    server.registry = Registry(models, loader, capacity=2, max_batch=8, max_wait=0.001, max_queue=64)

    async def scenario() -> tuple[dict[str, Any], list[dict[str, Any]]]:
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(EXECUTOR_THREADS))
        await server.warm()  # WARM loaded, the server ready
        read = {"op": "read", "model": LOADING, "path": str(photo)}
        burst = [asyncio.create_task(server.dispatch(read)) for _ in range(EXECUTOR_THREADS * 2)]
        try:
            await _until(loading.is_set, 30, f"{LOADING} to start loading")
            job = {"op": "job", "job_id": "j_other", "model": WARM, "path": str(photo)}
            try:  # a deadline, not a pace: the job needs no thread the burst holds, or waits for the load
                answer = await asyncio.wait_for(server.dispatch(job), 30)
            except TimeoutError:
                raise AssertionError(f"a job of {WARM} waited for {LOADING}'s load") from None
            assert not release.is_set() and [m.model_id for m in server.registry.peek()] == [WARM]
        finally:
            release.set()
        return answer, await asyncio.wait_for(asyncio.gather(*burst), 60)

    try:
        answer, burst_answers = asyncio.run(scenario())
    finally:
        release.set()
        for loaded in server.registry.peek():
            loaded.batcher.stop()
    assert answer["ok"] and answer["outcome"] == "succeeded", answer
    assert store.results == ["j_other"] and [m["job_id"] for m in store.completions] == ["j_other"]
    assert [a["ok"] for a in burst_answers] == [True] * len(burst_answers), burst_answers
    assert [m.model_id for m in server.registry.peek()] == [WARM, LOADING]
    assert all(loaded.holders == 0 for loaded in server.registry.peek())


REQUEST = contextvars.ContextVar[str | None]("REQUEST", default=None)


def test_a_load_runs_in_the_context_of_the_request_that_waits_for_it(tmp_path: Path) -> None:
    """The load's downloads and logs belong to the waiting request's trace (its span is a context variable), as
    they did on the default executor (`to_thread` copies the context; a bare `run_in_executor` does not)."""
    models = tmp_path / "models"
    write_classify_model(models / "colours" / "1.0.0")
    seen: list[str | None] = []

    def loader(folder: Path) -> serving.ServedModel:
        seen.append(REQUEST.get())
        return serving.load_model(folder, CPU)

    registry = Registry(models, loader, capacity=2, max_batch=8, max_wait=0.001, max_queue=64)

    async def request() -> None:
        REQUEST.set("job j_1")
        registry.release(await registry.held(WARM))

    try:
        asyncio.run(request())
    finally:
        for loaded in registry.peek():
            loaded.batcher.stop()
    assert seen == ["job j_1"]
