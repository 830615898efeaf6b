"""The pool over time, for the dashboard's autoscale chart: `GET /api/pool` sampled and kept in memory.

The app keeps no history of its pool, so the dashboard process does: one sample every `every_s`, the last
`keep` of them (an hour at the default 5 s). A failed read is kept too, as a gap with its reason, so the
chart shows when the pool could not be read instead of drawing a line through it. An answer that asks to
wait (429 or 503 with Retry-After) is honoured: no read until then, each period a gap. The last pool read
whole is kept as well, for the page's figures of now.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from shared.webhooks.retry import retry_after

log = logging.getLogger(__name__)
FIELDS = ("target_nodes", "current_nodes", "pending_tasks", "failed_nodes", "failed_tasks")


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def sample_of(status: int, doc: Any, at: datetime) -> dict[str, Any]:
    """One point of the chart from one answer of `GET /api/pool`."""
    stamp = _stamp(at)
    if status == 200 and isinstance(doc, dict):
        return {"at": stamp, **{name: int(doc.get(name) or 0) for name in FIELDS}}
    reason = doc.get("reason") if isinstance(doc, dict) else None
    return {"at": stamp, "error": str(reason or f"HTTP {status}")}


class PoolSampler:
    """`read` answers (status, document or None, the Retry-After header or None)."""

    def __init__(self, read: Callable[[], tuple[int, Any, str | None]], *, every_s: float = 5.0, keep: int = 720,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:  # fmt: skip
        self.read, self.every_s, self.clock = read, every_s, clock
        self._samples: deque[dict[str, Any]] = deque(maxlen=keep)
        self._latest: dict[str, Any] | None = None
        self._quiet_until: datetime | None = None  # no read before this: the API asked to wait
        self._quiet_reason = ""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sample(self) -> dict[str, Any]:
        now = self.clock()
        if self._quiet_until is not None and now < self._quiet_until:
            return self._keep({"at": _stamp(now), "error": self._quiet_reason}, None)
        try:
            status, doc, wait = self.read()
            point = sample_of(status, doc, now)
        except Exception as exc:  # one read going wrong in a way nobody foresaw must not end the chart
            log.exception("reading the pool failed")
            status, doc, wait = 0, None, None
            point = {"at": _stamp(now), "error": f"read_failed: {type(exc).__name__}"}
        asked = retry_after({"Retry-After": wait}, now) if wait is not None and status != 200 else None
        if asked:
            self._quiet_until, self._quiet_reason = now + asked, str(point["error"])
        return self._keep(point, doc if "error" not in point else None)

    def _keep(self, point: dict[str, Any], doc: dict[str, Any] | None) -> dict[str, Any]:
        with self._lock:
            self._samples.append(point)
            if doc is not None:
                self._latest = doc
        return point

    def samples(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._samples)

    def latest(self) -> dict[str, Any] | None:
        """The pool as last read whole, or None before the first good read."""
        with self._lock:
            return self._latest

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
