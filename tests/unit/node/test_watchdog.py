"""A node whose device fails every run after it served (a sticky CUDA error poisons the process's context) stops,
to be started again on a fresh context: it used to stay `ready` and fail every task sent to it in a tenth of a
second, and Batch's retries, which Pack scheduling sends back to it, were spent in seconds. A model's own failing
runs never stop it: the restart took the node's healthy models down with it, again and again."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from batch_tasks.models import serving
from batch_tasks.node.registry import Registry
from batch_tasks.node.server import NodeServer
from batch_tasks.node.settings import NodeSettings, StorageSettings
from batch_tasks.node.shutdown import EXIT_FAILING
from batch_tasks.node.watchdog import FAILED_RUNS_TO_RESTART, Watchdog, device_fault
from batch_tasks.ocr.imaging import DecodedImage
from batch_tasks.ocr.opencv import cv2
from tests.support.onnx_models import classify_graph, classify_manifest, write_classify_model, write_folder
from tests.support.rigged_models import RiggedModel, RunBatch
from tests.unit.node.test_server_loading_burst import InProcessPool

MODEL, OTHER = "colours/1.0.0", "colours/2.0.0"
# As ONNX Runtime's CUDA execution provider words the faults that poison a context (its CudaCall's format)
POISONED = "[ONNXRuntimeError] : 1 : FAIL : CUDA failure 700: an illegal memory access was encountered ; GPU=0"
DEVICE_FAULTS = [
    POISONED,
    "CUDA failure 710: device-side assert triggered ; GPU=0 ; hostname=node ; expr=cudaStreamSynchronize(stream);",
    "CUDA failure 719: unspecified launch failure ; GPU=0 ; hostname=node ; expr=cudaMemcpyAsync(dst, src, n);",
    "CUBLAS failure 13: CUBLAS_STATUS_EXECUTION_FAILED ; GPU=0 ; hostname=node ; expr=cublasSgemm(...);",
    "CUDNN failure 8: CUDNN_STATUS_EXECUTION_FAILED ; GPU=0 ; hostname=node ; expr=cudnnConvolutionForward(...);",
    "transform: failed to synchronize: cudaErrorIllegalAddress: an illegal memory access was encountered",
]
# Errors a model's own graph or input shapes cause, the context left working
MODEL_FAULTS = [
    "CUDA failure 1: invalid argument ; GPU=1 ; hostname=node ; expr=cudaMemcpyAsync(out, in, n, D2D, stream);",
    "CUBLAS failure 15: CUBLAS_STATUS_NOT_SUPPORTED ; GPU=0 ; hostname=node ; expr=cublasGemmEx(...);",
    "CUDNN failure 3: CUDNN_STATUS_BAD_PARAM ; GPU=0 ; hostname=node ; expr=cudnnSetTensorNdDescriptor(...);",
    "[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : Got invalid dimensions for input: images for the following indices",
]


def _watchdog() -> tuple[Watchdog, list[str]]:
    stops: list[str] = []
    return Watchdog(stops.append), stops


@pytest.fixture(scope="module")
def misshapen_batch_error(tmp_path_factory: pytest.TempPathFactory) -> Exception:
    """What a bring-your-own graph that reads one image at a time (`x.view(1, -1)`) really raises, through ONNX
    Runtime, when four photos arrive together and run as one batch."""
    folder = write_folder(tmp_path_factory.mktemp("single"), classify_graph(3, one_at_a_time=True),
                          classify_manifest("single"))  # fmt: skip
    model = serving.load_model(folder, ["CPUExecutionProvider"])
    ok, jpeg = cv2.imencode(".jpg", np.full((32, 32, 3), (0, 255, 0), np.uint8))
    assert ok
    photo = model.decode(jpeg.tobytes())
    assert len(model.run_batch([photo])) == 1  # alone, it reads
    with pytest.raises(Exception, match="Reshape") as raised:
        model.run_batch([photo] * 4)
    return raised.value


@pytest.mark.parametrize("message", DEVICE_FAULTS)
def test_a_sticky_cuda_fault_is_the_devices(message: str) -> None:
    assert device_fault(RuntimeError(message))


@pytest.mark.parametrize("message", MODEL_FAULTS)
def test_a_fault_the_model_can_cause_is_not_the_devices(message: str) -> None:
    assert not device_fault(RuntimeError(message))


def test_a_graph_that_cannot_take_a_batch_is_not_the_devices_fault(misshapen_batch_error: Exception) -> None:
    assert not device_fault(misshapen_batch_error)


def test_three_device_faults_in_a_row_after_reading_stop_the_server_once() -> None:
    watchdog, stops = _watchdog()
    watchdog.read(MODEL, on_gpu=True)
    for _ in range(FAILED_RUNS_TO_RESTART + 2):
        watchdog.run_failed(MODEL, RuntimeError(POISONED), on_gpu=True)
    assert len(stops) == 1 and MODEL in stops[0] and "CUDA failure 700" in stops[0]


def test_device_faults_count_across_the_nodes_models() -> None:
    """A poisoned context fails every model's runs: the count is the node's."""
    watchdog, stops = _watchdog()
    watchdog.read(MODEL, on_gpu=True)
    watchdog.read(OTHER, on_gpu=True)
    for run in range(FAILED_RUNS_TO_RESTART):
        watchdog.run_failed((MODEL, OTHER)[run % 2], RuntimeError(POISONED), on_gpu=True)
    assert len(stops) == 1


def test_any_models_read_between_device_faults_starts_the_count_again() -> None:
    """Another model's photo read proves the device works: the failing model's faults are its own."""
    watchdog, stops = _watchdog()
    watchdog.read(MODEL, on_gpu=True)
    watchdog.read(OTHER, on_gpu=True)
    for _ in range(FAILED_RUNS_TO_RESTART * 3):
        for _ in range(FAILED_RUNS_TO_RESTART - 1):
            watchdog.run_failed(MODEL, RuntimeError(POISONED), on_gpu=True)
        watchdog.read(OTHER, on_gpu=True)
    assert stops == []


def test_a_read_on_the_cpu_does_not_start_the_count_again() -> None:
    """Under `auto` a model the CUDA provider did not take runs on the CPU: its reads say nothing of the device."""
    watchdog, stops = _watchdog()
    watchdog.read(MODEL, on_gpu=True)
    for _ in range(FAILED_RUNS_TO_RESTART):
        watchdog.run_failed(MODEL, RuntimeError(POISONED), on_gpu=True)
        watchdog.read(OTHER, on_gpu=False)
    assert len(stops) == 1


@pytest.mark.parametrize(
    "message",
    ["CUDA failure 702: the launch timed out and was terminated", "CUDA failure 714: hardware stack error",
     "CUDA failure 717: operation not supported on global/shared address space",
     "CUDA failure 718: invalid program counter", "cudaErrorLaunchTimeout", "cudaErrorInvalidPc"],
)  # fmt: skip
def test_every_fault_cuda_says_needs_a_new_process_is_a_device_fault(message: str) -> None:
    assert device_fault(RuntimeError(message))


def test_a_models_own_failing_runs_never_count_however_many(misshapen_batch_error: Exception) -> None:
    """A bring-your-own graph that reads one photo alone and fails every batch of them used to restart the server
    after three batches, and the node's healthy models went down with it."""
    watchdog, stops = _watchdog()
    watchdog.read(MODEL, on_gpu=True)
    for _ in range(FAILED_RUNS_TO_RESTART * 3):
        watchdog.run_failed(MODEL, misshapen_batch_error, on_gpu=True)
        for message in MODEL_FAULTS:
            watchdog.run_failed(MODEL, RuntimeError(message), on_gpu=True)
    assert stops == []


def test_another_failure_between_device_faults_neither_counts_nor_starts_the_count_again(
    misshapen_batch_error: Exception,
) -> None:
    """Only a read proves the device works: a model's own error between the device's faults says nothing of it."""
    watchdog, stops = _watchdog()
    watchdog.read(MODEL, on_gpu=True)
    for _ in range(FAILED_RUNS_TO_RESTART):
        watchdog.run_failed(MODEL, RuntimeError(POISONED), on_gpu=True)
        watchdog.run_failed(OTHER, misshapen_batch_error, on_gpu=True)
    assert len(stops) == 1


def test_nothing_on_the_cpu_counts() -> None:
    """The CPU has no context to poison: whatever its runs raise, restarting the server mends nothing."""
    watchdog, stops = _watchdog()
    watchdog.read(MODEL, on_gpu=True)
    for message in DEVICE_FAULTS * FAILED_RUNS_TO_RESTART:
        watchdog.run_failed(MODEL, RuntimeError(message), on_gpu=False)
    assert stops == []


def test_a_failed_batch_counts_once_whatever_its_photos() -> None:
    """Every photo of a failed batch gets the same exception: a full batch is one failed run, not eight, even while
    another model's batch fails between its photos."""
    watchdog, stops = _watchdog()
    watchdog.read(MODEL, on_gpu=True)
    watchdog.read(OTHER, on_gpu=True)
    first, second = RuntimeError(POISONED), RuntimeError(POISONED)
    for _photo in range(8):
        watchdog.run_failed(MODEL, first, on_gpu=True)
        watchdog.run_failed(OTHER, second, on_gpu=True)
    assert stops == []


def test_a_model_that_never_read_a_photo_is_not_counted() -> None:
    """A version that fails from its first photo on is broken: restarting would not mend it, and would take the
    node's other models down with it again and again."""
    watchdog, stops = _watchdog()
    watchdog.read(OTHER, on_gpu=True)
    for _ in range(FAILED_RUNS_TO_RESTART * 3):
        watchdog.run_failed(MODEL, RuntimeError(POISONED), on_gpu=True)
    assert stops == []


class Device:
    """A device's models, whose runs raise once it is poisoned, as every run in a poisoned CUDA context does."""

    def __init__(self, *, gpu: bool) -> None:
        self.gpu, self.poisoned = gpu, False

    def load(self, folder: Path) -> serving.ServedModel:
        return RiggedModel(serving.load_model(folder, ["CPUExecutionProvider"]), self._run, on_gpu=self.gpu)

    def _run(self, images: Sequence[DecodedImage], run: RunBatch) -> Sequence[Any]:
        if self.poisoned:
            raise RuntimeError(POISONED)
        return run(images)


def _node(tmp_path: Path, device: Device) -> tuple[NodeServer, Path, Path]:
    """A node server serving MODEL from `device`, in this process; its photo, and a file that is no photo."""
    photo, junk = tmp_path / "green.jpg", tmp_path / "junk.jpg"
    assert cv2.imwrite(str(photo), np.full((32, 32, 3), (0, 255, 0), np.uint8))
    junk.write_bytes(b"not a photo")
    models = tmp_path / "models"
    write_classify_model(models / "colours" / "1.0.0")
    settings = NodeSettings(shared_dir=tmp_path, socket=tmp_path / "node.sock", models_dir=models,
                            storage=StorageSettings(), warm_models=(MODEL,))  # fmt: skip
    server = NodeServer(settings)
    server.pool.shutdown()  # never started: no submission spawned a worker
    server.pool = InProcessPool()  # type: ignore[assignment]
    server.registry = Registry(models, device.load, capacity=2, max_batch=8, max_wait=0.001, max_queue=64)
    return server, photo, junk


def _codes(server: NodeServer, scenario: Callable[[], Coroutine[Any, Any, list[dict[str, Any]]]]) -> list[str]:
    try:
        replies = asyncio.run(scenario())
    finally:
        for loaded in server.registry.peek():
            loaded.batcher.stop()
    return [r["error"]["code"] if not r["ok"] else "ok" for r in replies]


def test_the_server_stops_not_ready_after_failed_runs_and_a_bad_photo_never_counts(tmp_path: Path) -> None:
    device = Device(gpu=True)
    server, photo, junk = _node(tmp_path, device)

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

    assert _codes(server, scenario) == [
        "ok",
        *["bad_input"] * (FAILED_RUNS_TO_RESTART * 3),
        *["inference_failed"] * FAILED_RUNS_TO_RESTART,
        "shutting_down",
    ]
    health = server.health()
    assert health["ready"] is False and MODEL in str(health["stopping"])
    assert server.shutdown.requested.is_set() and server.shutdown.exit_code == EXIT_FAILING


def test_the_server_on_the_cpu_never_stops_for_failing_runs(tmp_path: Path) -> None:
    """The server asks its models where they run: the same error from a model on the CPU is the model's."""
    device = Device(gpu=False)
    server, photo, _junk = _node(tmp_path, device)

    async def scenario() -> list[dict[str, Any]]:
        await server.warm()
        request = {"op": "read", "model": MODEL, "path": str(photo)}
        replies = [await server.dispatch(request)]
        device.poisoned = True
        replies += [await server.dispatch(request) for _ in range(FAILED_RUNS_TO_RESTART * 2)]
        return replies

    assert _codes(server, scenario) == ["ok", *["inference_failed"] * (FAILED_RUNS_TO_RESTART * 2)]
    assert server.health()["ready"] is True and not server.shutdown.requested.is_set()
