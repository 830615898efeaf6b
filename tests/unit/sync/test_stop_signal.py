"""A stop signal never waits on a lock: the handler runs on the main thread, which may be inside `stop.wait()`
holding the event's own lock, so setting the event there would wait on itself for good. Forced here by calling
the installed handler while that lock is held."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator

import pytest

from emulators import signals
from sitelens import sync_command
from tests.support.waiting import wait_for


@pytest.fixture
def handlers() -> Iterator[None]:
    kept = {sig: signal.getsignal(sig) for sig in signals.STOP_SIGNALS}
    yield
    for sig, handler in kept.items():
        signal.signal(sig, handler)


def handled_under_the_events_lock(stop: threading.Event, handler: Callable[[int, None], None]) -> bool:
    """Run the handler as if it interrupted `stop.wait()`: with the event's lock held. Whether it returned."""
    returned = threading.Event()

    def interrupted_wait() -> None:
        with stop._cond:  # type: ignore[attr-defined]  # what Event.wait holds between its checks
            handler(signal.SIGTERM, None)
            returned.set()

    threading.Thread(target=interrupted_wait, daemon=True).start()
    return returned.wait(10)  # a deadline, not a pace: a handler that waits on the lock never returns


def test_the_sync_agents_handler_returns_and_the_stop_still_comes(handlers: None) -> None:
    stop = threading.Event()
    sync_command._stop_on_signals(stop)
    handler = signal.getsignal(signal.SIGTERM)
    assert callable(handler)
    assert handled_under_the_events_lock(stop, handler)
    wait_for(stop.is_set, 10, "the stop, set once the lock was free")


def test_the_local_stacks_handler_returns_and_the_stop_still_comes(handlers: None) -> None:
    stop = signals.stop_event()
    handler = signal.getsignal(signal.SIGTERM)
    assert callable(handler)
    assert handled_under_the_events_lock(stop, handler)
    wait_for(stop.is_set, 10, "the stop, set once the lock was free")
