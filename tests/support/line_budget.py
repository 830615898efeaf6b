"""Work measured as lines of Python run: a count that is the same on any machine, where wall time is not."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import pytest

T = TypeVar("T")


class OverBudget(BaseException):
    """Stops the code under test past its budget; not an Exception, so no guard there takes it for its own."""


def lines_run(call: Callable[[], T], budget: int, under: Path) -> tuple[T, int]:
    """What `call` returns, and how many lines of the files under `under` it ran. Past `budget` it is stopped,
    so work that grows with the input fails at once rather than after minutes."""
    prefix = str(under)
    lines = 0

    def count(frame: FrameType, event: str, arg: object) -> Any:
        nonlocal lines
        if event == "line":
            lines += 1
        if lines > budget:
            raise OverBudget
        return count

    def enter(frame: FrameType, event: str, arg: object) -> Any:
        return count if frame.f_code.co_filename.startswith(prefix) else None

    previous = sys.gettrace()
    sys.settrace(enter)
    try:
        return call(), lines
    except OverBudget:
        pytest.fail(f"more than {budget} lines run under {under}")
    finally:
        sys.settrace(previous)
