"""Foreground commands stop on Ctrl-C or SIGTERM: both set one event the command waits on."""

from __future__ import annotations

import signal
import threading
from types import FrameType


def stop_event() -> threading.Event:
    """Install SIGINT and SIGTERM handlers (main thread only) that set the returned event."""
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    return stop
