"""The pool over time, for the dashboard's autoscale chart: `GET /api/pool` sampled and kept in memory.

The app keeps no history of its pool, so the dashboard process does: one sample every `every_s`, the last
`keep` of them (an hour at the default 5 s). A failed read is kept too, as a gap with its reason, so the
chart shows when the pool could not be read instead of drawing a line through it.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

FIELDS = ("target_nodes", "current_nodes", "pending_tasks", "failed_nodes", "failed_tasks")


def sample_of(status: int, doc: Any, at: datetime) -> dict[str, Any]:
    """One point of the chart from one answer of `GET /api/pool`."""
    stamp = at.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if status == 200 and isinstance(doc, dict):
        return {"at": stamp, **{name: int(doc.get(name) or 0) for name in FIELDS}}
    reason = doc.get("reason") if isinstance(doc, dict) else None
    return {"at": stamp, "error": str(reason or f"HTTP {status}")}


class PoolSampler:
    def __init__(self, read: Callable[[], tuple[int, Any]], *, every_s: float = 5.0, keep: int = 720,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:  # fmt: skip
        self.read, self.every_s, self.clock = read, every_s, clock
        self._samples: deque[dict[str, Any]] = deque(maxlen=keep)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sample(self) -> dict[str, Any]:
        status, doc = self.read()
        point = sample_of(status, doc, self.clock())
        with self._lock:
            self._samples.append(point)
        return point

    def samples(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._samples)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.every_s)  # the sampling period; stop() ends the wait at once

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="sitelens-pool-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
