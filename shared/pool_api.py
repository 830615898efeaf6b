"""`GET /pool`: the Batch pool's nodes and pending tasks now, for dashboards (the autoscale picture).

The app keeps no history: a dashboard that wants the picture over time samples this (`sitelens dashboard`
does, in its own memory). While Batch cannot be reached, or the app has no Batch settings, the answer is a
503 problem document with the reason, as `GET /health/details` would report it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shared.errors import SitelensError
from shared.http_reply import Reply


def handle(read: Callable[[], dict[str, Any]]) -> Reply:
    try:
        return Reply(200, read(), {"Cache-Control": "no-cache"})
    except SitelensError as exc:  # not configured, not found or unreachable: to a reader, all unavailable
        return Reply.problem(503, exc.reason, f"the Batch pool cannot be read: {exc}", {"Retry-After": "30"})
