"""Decoded photos live in /dev/shm, which is the node's memory: none may outlive the request or the server.

The real decode pool (spawned worker processes, OpenCV) on real JPEGs; only /dev/shm is looked at."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from batch_tasks.node import decoding
from batch_tasks.node.decoding import BLOCK_PREFIX, SHM, DecodePool
from batch_tasks.ocr.opencv import cv2
from tests.support.waiting import wait_for

pytestmark = pytest.mark.skipif(not SHM.is_dir(), reason="POSIX shared memory in /dev/shm (Linux)")


def blocks_of(pid: int) -> set[str]:
    return {p.name for p in SHM.glob(f"{BLOCK_PREFIX}{pid}_*")}


@pytest.fixture
def photo(tmp_path: Path) -> str:
    ok, jpeg = cv2.imencode(".jpg", np.full((480, 640, 3), 200, np.uint8))
    assert ok
    path = tmp_path / "photo.jpg"
    path.write_bytes(jpeg.tobytes())
    return str(path)


@pytest.fixture
def pool() -> Iterator[DecodePool]:
    started = DecodePool(1)
    yield started
    started.shutdown()


def test_a_decode_no_request_maps_is_freed_at_shutdown(photo: str) -> None:
    pool = DecodePool(1)
    decoded = pool.decode(photo, None).result(timeout=60)
    assert decoded.block is not None and decoded.block in blocks_of(os.getpid())  # named after this server
    pool.shutdown()
    assert not blocks_of(os.getpid())


def test_a_decode_whose_caller_gave_up_frees_its_block_when_it_finishes(pool: DecodePool, photo: str) -> None:
    future = pool.decode(photo, None)
    decoding.discard(future)
    assert future.result(timeout=60).block is not None
    wait_for(lambda: not blocks_of(os.getpid()), 30, "the given-up decode's block freed")  # its done-callback


def test_a_new_pool_frees_the_blocks_of_a_server_that_died(photo: str) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True).stdout.strip()  # fmt: skip
    stale = SHM / f"{BLOCK_PREFIX}{dead}_0123456789abcdef"
    stale.write_bytes(b"\0" * 4096)  # what a killed server leaves: a block no process will unlink
    live = SHM / f"{BLOCK_PREFIX}{os.getppid()}_0123456789abcdef"  # a live process's (the test runner's parent)
    live.write_bytes(b"\0" * 4096)
    try:
        pool = DecodePool(1)
        pool.shutdown()
        assert not stale.exists()
        assert live.exists()
    finally:
        for path in (stale, live):
            path.unlink(missing_ok=True)


def test_a_block_the_sweep_cannot_remove_does_not_stop_the_server(photo: str) -> None:
    """Another user's block, say (here a directory under a block's name, which nobody can unlink as a file)."""
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True).stdout.strip()  # fmt: skip
    stuck = SHM / f"{BLOCK_PREFIX}{dead}_fedcba9876543210"
    stuck.mkdir()
    try:
        pool = DecodePool(1)  # sweeps at start
        assert pool.decode(photo, None).result(timeout=60).block is not None
        pool.shutdown()
        assert stuck.exists() and not blocks_of(os.getpid())
    finally:
        stuck.rmdir()


HANDOFF = """
import sys
from batch_tasks.node.decoding import DecodePool, Mapped
from batch_tasks.vision.results import Marks

pool = DecodePool(1)
try:
    for _ in range(3):
        decoded = pool.decode(sys.argv[1], None).result(timeout=60)
        mapped = Mapped(decoded)
        assert pool.draw_overlay(decoded, Marks(caption="ok")).result(timeout=60)
        mapped.close()
finally:
    pool.shutdown()
"""


def test_a_photo_decoded_drawn_and_freed_leaves_nothing_in_the_servers_log(photo: str) -> None:
    """The server and its workers share one resource tracker, whose complaints go to the server's stderr: its log.
    A worker that unregistered a block it only drew on left the server's unlink a name the tracker no longer
    held, and the tracker printed a KeyError traceback for every photo."""
    run = subprocess.run([sys.executable, "-c", HANDOFF, photo], check=False, capture_output=True, text=True,
                         timeout=180, cwd=Path(__file__).parents[3])  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr and "KeyError" not in run.stderr, run.stderr
