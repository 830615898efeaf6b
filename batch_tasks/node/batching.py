"""Dynamic batching: photos from concurrent requests run through a model together.

One thread per loaded model takes the first waiting photo, then keeps taking photos until it has
`max_batch` or `max_wait` has passed since the first, and runs them as one batch. Under no load a photo
waits at most `max_wait` (a few ms); under load batches fill at once and the accelerator runs one large
batch instead of many small ones, the difference between 186 and 718 det images/s on an H100 (docs/performance.md#gpu).
The thread is the only caller of its model, so the model's sessions see one shape stream.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from opentelemetry import trace
from opentelemetry.trace import SpanContext

from batch_tasks import telemetry
from batch_tasks.errors import Overloaded, Stopped

__all__ = ["BatchStats", "Batcher", "Overloaded", "Stopped"]

In = TypeVar("In")
Out = TypeVar("Out")


@dataclass
class BatchStats:
    batches: int = 0
    items: int = 0
    failures: int = 0
    busy_s: float = 0.0
    sizes: Counter[int] = field(default_factory=Counter)

    def to_dict(self) -> dict[str, object]:
        return {
            "batches": self.batches,
            "items": self.items,
            "failures": self.failures,
            "busy_s": round(self.busy_s, 3),
            "max_batch_seen": max(self.sizes, default=0),
            "batch_sizes": {str(k): v for k, v in sorted(self.sizes.items())},
        }


_STOP = object()


class Batcher(Generic[In, Out]):
    """Runs `run(items) -> results` (same length and order) on batches of submitted items, in one thread.

    A batch that fails with an error `split_when` accepts (one photo's doing: running out of memory, say) runs
    again in halves, down to single items, so the photo that caused it fails alone, not its batch-mates.
    """

    def __init__(
        self,
        run: Callable[[Sequence[In]], Sequence[Out]],
        *,
        max_batch: int,
        max_wait: float,
        max_queue: int,
        name: str,
        split_when: Callable[[Exception], bool] = lambda exc: False,
    ) -> None:
        self._run, self.max_batch, self.max_wait = run, max_batch, max_wait
        self._split_when = split_when
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max_queue)
        self.stats = BatchStats()
        self._stopped = False
        self._thread = threading.Thread(target=self._loop, name=f"batcher-{name}", daemon=True)
        self._thread.start()

    @property
    def waiting(self) -> int:
        return self._queue.qsize()

    def submit(self, item: In) -> Future[Out]:
        if self._stopped:
            raise Stopped("the model is unloading or the server is shutting down")
        future: Future[Out] = Future()
        # The submitting photo's span: the batch that runs it links to it (one batch serves many photos).
        waiting = (trace.get_current_span().get_span_context(), time.perf_counter())
        try:
            self._queue.put_nowait((item, future, waiting))
        except queue.Full:
            raise Overloaded(f"{self._queue.maxsize} photos are already waiting") from None
        return future

    def stop(self) -> None:
        """Run what is queued, then end the thread; later submissions raise `Stopped`."""
        self._stopped = True
        self._queue.put(_STOP)
        self._thread.join()

    def _take(self) -> tuple[list[tuple[In, Future[Out], tuple[SpanContext, float]]], bool]:
        first = self._queue.get()
        if first is _STOP:
            return [], True
        batch: list[tuple[In, Future[Out], tuple[SpanContext, float]]] = [first]  # type: ignore[list-item]
        deadline = time.monotonic() + self.max_wait
        while len(batch) < self.max_batch:
            remaining = deadline - time.monotonic()
            try:
                item = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                return batch, True
            batch.append(item)  # type: ignore[arg-type]
        return batch, False

    def _run_batch(self, live: list[tuple[In, Future[Out], tuple[SpanContext, float]]], started: float) -> None:
        """Run one batch under a span linked to every photo's span, sampled when one of theirs is (a trace of its
        own, so the sampler decides by those links); each future gets its result or the error."""
        links = telemetry.serving(ctx for _, _, (ctx, _) in live)
        for _, _, (_, queued) in live:
            telemetry.histogram("sitelens.node.queue.wait", "s", "Photo waiting for its batch").record(started - queued)
        with telemetry.tracer().start_as_current_span(
            "node.batch", links=links, attributes={"sitelens.batch_size": len(live)}
        ) as span:
            self._settle(live, span)
        telemetry.histogram("sitelens.node.batch.size", "{photo}", "Photos per model run").record(len(live))
        telemetry.counter("sitelens.node.photos", "{photo}", "Photos run through a model").add(len(live))

    def _settle(self, live: list[tuple[In, Future[Out], tuple[SpanContext, float]]], span: trace.Span) -> None:
        try:
            results = self._run([item for item, _, _ in live])
            if len(results) != len(live):
                raise RuntimeError(f"batch of {len(live)} gave {len(results)} results")
        except Exception as exc:  # noqa: BLE001 (every waiting request gets the failure, the thread goes on)
            if len(live) > 1 and self._split_when(exc):
                half = len(live) // 2
                span.add_event("sitelens.batch.split", {"sitelens.batch_size": len(live), "error": type(exc).__name__})
                self._settle(live[:half], span)
                self._settle(live[half:], span)
                return
            telemetry.fail(span, type(exc).__name__)
            self.stats.failures += len(live)
            for _, future, _ in live:
                future.set_exception(exc)
        else:
            for (_, future, _), result in zip(live, results, strict=True):
                future.set_result(result)

    def _loop(self) -> None:
        stopping = False
        while not stopping:
            batch, stopping = self._take()
            if not batch:
                continue
            live = [(item, future, w) for item, future, w in batch if future.set_running_or_notify_cancel()]
            if not live:
                continue
            started = time.perf_counter()
            self._run_batch(live, started)
            self.stats.busy_s += time.perf_counter() - started
            self.stats.batches += 1
            self.stats.items += len(live)
            self.stats.sizes[len(live)] += 1
        while True:  # anything submitted after the stop marker
            try:
                left = self._queue.get_nowait()
            except queue.Empty:
                return
            if left is not _STOP:
                left[1].set_exception(Stopped("the server is shutting down"))  # type: ignore[index]
