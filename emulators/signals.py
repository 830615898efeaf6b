"""Foreground commands stop on Ctrl-C, SIGTERM or a hangup: each sets one event the command waits on.

A hangup (SIGHUP) is what a closed terminal sends; left at its default it would end the command at once,
leaving the children it started running with nothing to stop them.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def stop_event() -> threading.Event:
    """Install handlers for `STOP_SIGNALS` (main thread only) that set the returned event."""
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        # From another thread: Event.set takes a lock the interrupted main thread may hold (inside stop.wait).
        threading.Thread(target=stop.set, daemon=True).start()

    for sig in STOP_SIGNALS:
        signal.signal(sig, on_signal)
    return stop
