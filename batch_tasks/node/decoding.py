"""JPEG decoding and overlay drawing in a pool of worker processes, pixels passed through shared memory.

Decoding a 12 MP JPEG is the main CPU cost of reading it (4.4 photos/s per core, docs/performance.md#gpu), and it holds
no lock the inference thread needs, so it runs in processes of its own: `spawn`ed (never `fork`ed from a
process that may hold a CUDA context), one OpenCV thread each. A decoded image goes back as the name of a
shared-memory block, not as a pickled 36 MB array; the server maps it without copying. The overlay JPEG is
drawn from the same block by a worker too, so the inference thread only runs models: line polygons for OCR,
boxes with their labels for detect, the top label for classify (`batch_tasks.vision.overlay`).

Each block belongs to the server from the moment `decode` returns: `Mapped.close` unlinks it. The workers share
the server's resource tracker, which holds a name once however often it is registered: a worker unregisters
the block it creates (the server registers it again when it maps it) and leaves alone one it attaches to
draw on, as the server's unlink unregisters it and a second unregister makes the tracker print a KeyError.
A block is named after the server's pid (`sitelens_{pid}_…`), so none outlives
it in /dev/shm (node memory): a decode whose caller gave up frees its block when it finishes, the pool's
shutdown frees what is left, and a new pool frees the blocks of a server that died.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import resource_tracker, shared_memory
from pathlib import Path
from typing import TypeVar

import numpy as np

from batch_tasks.ocr import imaging
from batch_tasks.ocr.imaging import DecodedImage
from batch_tasks.ocr.opencv import cv2
from batch_tasks.start import alive
from batch_tasks.vision import overlay
from batch_tasks.vision.results import Marks

log = logging.getLogger(__name__)
T = TypeVar("T")
SHM = Path("/dev/shm")  # noqa: S108 (where POSIX shared memory lives on Linux; elsewhere nothing is swept)
BLOCK_PREFIX = "sitelens_"


@dataclass(frozen=True)
class Decoded:
    """A decoded photo in shared memory, or the reason it did not decode."""

    block: str | None
    shape: tuple[int, int, int] | None
    width: int  # the original's upright size
    height: int
    error: tuple[str, str] | None = None  # (reason code, message)


def _init_worker() -> None:
    cv2.setNumThreads(1)  # one decode per process; the pool is the parallelism


def _untrack(block: shared_memory.SharedMemory) -> None:
    resource_tracker.unregister(f"/{block.name}" if os.name == "posix" else block.name, "shared_memory")


def _decode(path: str, min_long_side: int | None, owner: int) -> Decoded:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return Decoded(None, None, 0, 0, ("input_missing", f"{path}: {exc.strerror or exc}"))
    try:
        image = imaging.decode(data, min_long_side)
    except imaging.DecodeError as exc:
        code = "too_large" if exc.reason == "image_too_large" else "bad_input"
        return Decoded(None, None, 0, 0, (code, f"{exc.reason}: {exc}"))
    pixels = image.pixels
    name = f"{BLOCK_PREFIX}{owner}_{secrets.token_hex(8)}"
    block = shared_memory.SharedMemory(name=name, create=True, size=pixels.nbytes)
    try:
        np.ndarray(pixels.shape, np.uint8, buffer=block.buf)[:] = pixels
        shape = (int(pixels.shape[0]), int(pixels.shape[1]), int(pixels.shape[2]))
        _untrack(block)
        return Decoded(block.name, shape, image.width, image.height)
    finally:
        block.close()


def _draw(block_name: str, shape: tuple[int, int, int], marks: Marks) -> bytes:
    # Not untracked: the server's `Mapped` registered the block with the tracker this worker shares, and its
    # unlink unregisters it; unregistering here too made the tracker print a KeyError per photo to its log.
    block = shared_memory.SharedMemory(name=block_name)
    try:
        pixels = np.ndarray(shape, np.uint8, buffer=block.buf)
        jpeg = overlay.draw(pixels, marks)
        del pixels  # the view must go before the block closes
    finally:
        block.close()
    return jpeg


class DecodePool:
    """The worker processes. A worker that dies (killed for memory, a crash in a codec) breaks a
    `ProcessPoolExecutor` for good, every later submission refused; so a broken pool is replaced by a new
    one at the next submission. The photos in flight when it broke fail with `BrokenProcessPool`."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.restarts = 0
        self.owner = os.getpid()
        self._lock = threading.Lock()
        self._pool = self._new_pool()
        free_blocks(lambda pid: pid != self.owner and not alive(pid))  # left by a server that died

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker
        )

    def _submit(self, fn: Callable[..., T], *args: object) -> Future[T]:
        with self._lock:
            try:
                return self._pool.submit(fn, *args)
            except BrokenProcessPool:
                log.warning("a decode worker died; starting the decode pool again")
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool, self.restarts = self._new_pool(), self.restarts + 1
                return self._pool.submit(fn, *args)

    def prime(self) -> None:
        """Start every worker now (the pool spawns lazily), so the first photos pay no interpreter start-up."""
        for future in [self._submit(_init_worker) for _ in range(self.workers)]:
            future.result()

    def decode(self, path: str, min_long_side: int | None) -> Future[Decoded]:
        return self._submit(_decode, path, min_long_side, self.owner)

    def draw_overlay(self, decoded: Decoded, marks: Marks) -> Future[bytes]:
        """The overlay JPEG, marks (OCR polygons, boxes, a label) in the decoded image's pixels (about 0.5 MB
        back through a pipe)."""
        assert decoded.block is not None and decoded.shape is not None
        return self._submit(_draw, decoded.block, decoded.shape, marks)

    def shutdown(self) -> None:
        with self._lock:
            self._pool.shutdown(wait=True, cancel_futures=True)
        free_blocks(lambda pid: pid == self.owner)  # decoded for requests that ended before mapping them


def discard(future: Future[Decoded]) -> None:
    """For a decode whose caller stopped waiting: its block, if it makes one, is freed when it finishes."""

    def free(done: Future[Decoded]) -> None:
        if not done.cancelled() and done.exception() is None and done.result().block is not None:
            _unlink(str(done.result().block))

    future.add_done_callback(free)


def free_blocks(owned_by: Callable[[int], bool]) -> int:
    """Unlink this module's blocks in /dev/shm whose owning server pid `owned_by` picks; how many."""
    freed = 0
    for path in SHM.glob(f"{BLOCK_PREFIX}*_*") if SHM.is_dir() else ():
        owner = path.name.removeprefix(BLOCK_PREFIX).split("_", 1)[0]
        if owner.isdigit() and owned_by(int(owner)):
            freed += _unlink(path.name)
    if freed:
        log.info("freed %d decoded photo(s) no request will read", freed)
    return freed


def _unlink(name: str) -> int:
    """Free one block; 1 if this call did. A block it may not remove (another user's) is logged, never raised:
    a sweep must not stop the server from starting or stopping."""
    try:
        if SHM.is_dir():
            (SHM / name).unlink()  # shm_unlink, without attaching to the block
        else:
            block = shared_memory.SharedMemory(name=name)  # tracked: unlinking it also unregisters it
            block.close()
            block.unlink()
    except FileNotFoundError:
        return 0
    except OSError as exc:
        log.warning("could not free decoded photo %s: %s", name, exc)
        return 0
    return 1


class Mapped:
    """A decoded photo mapped into this process; `close` unmaps and frees the block."""

    def __init__(self, decoded: Decoded) -> None:
        assert decoded.block is not None and decoded.shape is not None
        self.decoded = decoded
        # Tracked here: `close` unlinks it, and if this process dies first its resource tracker does.
        self._block = shared_memory.SharedMemory(name=decoded.block)
        self._pixels: np.ndarray | None = np.ndarray(decoded.shape, np.uint8, buffer=self._block.buf)
        self.image = DecodedImage(self._pixels, decoded.width, decoded.height)

    def close(self) -> None:
        self.image = None  # type: ignore[assignment]
        self._pixels = None
        with contextlib.suppress(BufferError):  # a view still exists somewhere: leave the mapping, free the name
            self._block.close()
        with contextlib.suppress(FileNotFoundError):
            self._block.unlink()
