"""A warm model whose load fails for a reason that may pass (storage not answering at boot) is tried again before
the server reports ready: one such failure used to leave the server ready without it for good, the start task
failed the node at each of its attempts, and the node never served."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from batch_tasks.errors import ModelUnavailable, NodeError, UnknownModel, storage_error
from batch_tasks.models import serving
from batch_tasks.node import warmup
from batch_tasks.node.registry import Registry
from tests.support.onnx_models import write_classify_model

CPU = ["CPUExecutionProvider"]
WARM = "colours/1.0.0"


class FlakyStorage:
    """The registry's download: refused `failures` times (as the node sees a 503 past the SDK's retries), then
    the published version."""

    def __init__(self, published: Path, failures: int, error: Exception | None = None) -> None:
        self.published, self.failures, self.calls = published, failures, 0
        self.error = error or ModelUnavailable("downloading model colours/1.0.0: HTTP 503 ServerBusy")

    def download(self, name: str, version: str, dest: Path) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        shutil.copytree(self.published, dest, dirs_exist_ok=True)


class Clock:
    """`asyncio.sleep` and `time.monotonic` for the warm-up: a wait moves the clock, and takes no time."""

    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds

    def __call__(self) -> float:
        return self.now


def _warm(tmp_path: Path, storage: FlakyStorage, clock: Clock) -> tuple[dict[str, NodeError], list[str]]:
    registry = Registry(tmp_path / "node", lambda f: serving.load_model(f, CPU), capacity=2, max_batch=4,
                        max_wait=0.001, max_queue=8, download=storage.download)  # fmt: skip
    try:
        given_up = asyncio.run(warmup.warm_up(registry, (WARM,), sleep=clock.sleep, clock=clock))
        return given_up, [m.model_id for m in registry.peek()]
    finally:
        for loaded in registry.peek():
            loaded.batcher.stop()


def test_a_warm_model_whose_download_failed_once_is_loaded_on_the_next_attempt(tmp_path: Path) -> None:
    storage = FlakyStorage(write_classify_model(tmp_path / "published"), failures=1)
    clock = Clock()
    given_up, loaded = _warm(tmp_path, storage, clock)
    assert given_up == {} and loaded == [WARM]
    assert storage.calls == 2 and clock.waits == [warmup.RETRY_DELAYS_S[0]]


def test_a_failure_no_retry_can_mend_is_given_up_at_once(tmp_path: Path) -> None:
    storage = FlakyStorage(tmp_path / "published", failures=99, error=UnknownModel("model colours/1.0.0 is not in"))
    clock = Clock()
    given_up, loaded = _warm(tmp_path, storage, clock)
    assert given_up[WARM].code == "unknown_model" and loaded == []
    assert storage.calls == 1 and clock.waits == []


def test_a_failure_that_persists_is_given_up_after_the_retries(tmp_path: Path) -> None:
    refused = storage_error("downloading model colours/1.0.0: HTTP 503", transient=True)
    storage = FlakyStorage(tmp_path / "published", failures=99, error=ModelUnavailable(refused.message))
    clock = Clock()
    given_up, loaded = _warm(tmp_path, storage, clock)
    assert given_up[WARM].code == "model_unavailable" and loaded == []
    assert clock.waits == list(warmup.RETRY_DELAYS_S) and storage.calls == len(warmup.RETRY_DELAYS_S) + 1


def test_no_retry_starts_past_the_warm_ups_bound(tmp_path: Path) -> None:
    """An attempt that itself takes long (the storage SDK's own retries) leaves fewer retries: the warm-up ends
    well inside the start task's wait."""
    storage = FlakyStorage(tmp_path / "published", failures=99)

    def slow_download(name: str, version: str, dest: Path) -> None:
        clock.now += 50  # an attempt that ran its SDK retries out
        storage.download(name, version, dest)

    clock = Clock()
    registry = Registry(tmp_path / "node", lambda f: serving.load_model(f, CPU), capacity=2, max_batch=4,
                        max_wait=0.001, max_queue=8, download=slow_download)  # fmt: skip
    given_up = asyncio.run(warmup.warm_up(registry, (WARM,), sleep=clock.sleep, clock=clock))
    assert WARM in given_up
    assert clock.waits == [1.0, 2.0]  # attempts at 0, 51 and 103 s; the next would start past 120 s
    assert storage.calls == 3


def test_a_model_whose_files_are_in_place_but_do_not_load_is_given_up_at_once(tmp_path: Path) -> None:
    """The registry keeps such a load's failure for a minute: retries here would only meet it again (a fresh
    server, which the start task starts, tries it anew)."""
    published = write_classify_model(tmp_path / "published")
    (published / "model.onnx").write_bytes(b"not an onnx graph")  # the checksum now fails: it does not verify
    storage = FlakyStorage(published, failures=0)
    clock = Clock()
    given_up, loaded = _warm(tmp_path, storage, clock)
    assert given_up[WARM].code == "model_unavailable" and loaded == []
    assert clock.waits == [] and storage.calls == 1
