"""Waiting on a condition with a deadline: the only way tests synchronise with processes."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class DeadlineExceeded(AssertionError):
    pass


def wait_for(condition: Callable[[], T | None], timeout: float = 30.0, what: str = "condition") -> T:
    """Poll `condition` until it returns a truthy value; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    interval = 0.05
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise DeadlineExceeded(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)  # polling period of the condition check
        interval = min(interval * 1.5, 0.5)
