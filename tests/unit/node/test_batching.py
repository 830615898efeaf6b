"""The dynamic batcher with a recording runner (pure: no model)."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest

from batch_tasks.node.batching import Batcher, Overloaded, Stopped


class Gate:
    """A runner that blocks until released, so a test controls when batches finish."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.batches: list[list[int]] = []
        self.entered = threading.Semaphore(0)

    def __call__(self, items: Sequence[int]) -> list[int]:
        self.batches.append(list(items))
        self.entered.release()
        assert self.open.wait(10)
        return [i * 10 for i in items]


def test_items_that_wait_behind_a_running_batch_run_together_in_order() -> None:
    gate = Gate()
    b: Batcher[int, int] = Batcher(gate, max_batch=4, max_wait=0.0, max_queue=100, name="t")
    first = b.submit(1)
    assert gate.entered.acquire(timeout=10)  # batch [1] is running
    rest = [b.submit(i) for i in range(2, 8)]
    gate.open.set()
    assert [f.result(10) for f in [first, *rest]] == [10, 20, 30, 40, 50, 60, 70]
    b.stop()
    assert gate.batches == [[1], [2, 3, 4, 5], [6, 7]]
    assert b.stats.to_dict()["batch_sizes"] == {"1": 1, "2": 1, "4": 1}
    assert b.stats.items == 7


def test_a_failing_batch_fails_its_items_only() -> None:
    calls: list[list[int]] = []

    def run(items: Sequence[int]) -> list[int]:
        calls.append(list(items))
        if 13 in items:
            raise ValueError("unlucky")
        return list(items)

    b: Batcher[int, int] = Batcher(run, max_batch=1, max_wait=0.0, max_queue=10, name="t")
    bad, good = b.submit(13), b.submit(14)
    with pytest.raises(ValueError, match="unlucky"):
        bad.result(10)
    assert good.result(10) == 14
    b.stop()
    assert b.stats.failures == 1


def test_a_batch_that_fails_with_a_splittable_error_runs_again_in_halves_until_the_culprit_is_alone() -> None:
    calls: list[list[int]] = []

    def run(items: Sequence[int]) -> list[int]:
        calls.append(list(items))
        if 2 in items:
            raise MemoryError("too big")
        if 4 in items:
            raise ValueError("not split: a broken model would only fail again")
        return list(items)

    b: Batcher[int, int] = Batcher(run, max_batch=3, max_wait=10.0, max_queue=10, name="t",
                                   split_when=lambda exc: isinstance(exc, MemoryError))  # fmt: skip
    futures = [b.submit(i) for i in (1, 2, 3, 4, 5, 6)]  # two full batches: neither waits out max_wait
    assert futures[0].result(10) == 1 and futures[2].result(10) == 3
    with pytest.raises(MemoryError):
        futures[1].result(10)
    for later in futures[3:]:
        with pytest.raises(ValueError):
            later.result(10)
    b.stop()
    assert calls == [[1, 2, 3], [1], [2, 3], [2], [3], [4, 5, 6]]
    assert b.stats.failures == 4 and b.stats.sizes == {3: 2}


def test_a_wrong_result_count_is_an_error_for_every_item() -> None:
    b: Batcher[int, int] = Batcher(lambda items: [], max_batch=2, max_wait=0.0, max_queue=10, name="t")
    with pytest.raises(RuntimeError, match="gave 0 results"):
        b.submit(1).result(10)
    b.stop()


def test_a_full_queue_refuses_new_items() -> None:
    gate = Gate()
    b: Batcher[int, int] = Batcher(gate, max_batch=1, max_wait=0.0, max_queue=2, name="t")
    b.submit(0)
    assert gate.entered.acquire(timeout=10)
    b.submit(1)
    b.submit(2)
    with pytest.raises(Overloaded):
        b.submit(3)
    gate.open.set()
    b.stop()


def test_items_after_stop_are_refused_and_queued_ones_still_run() -> None:
    gate = Gate()
    b: Batcher[int, int] = Batcher(gate, max_batch=1, max_wait=0.0, max_queue=10, name="t")
    first = b.submit(1)
    assert gate.entered.acquire(timeout=10)
    queued = b.submit(2)
    stopper = threading.Thread(target=b.stop)
    stopper.start()
    gate.open.set()
    stopper.join(10)
    assert (first.result(1), queued.result(1)) == (10, 20)
    with pytest.raises(Stopped):
        b.submit(3)
