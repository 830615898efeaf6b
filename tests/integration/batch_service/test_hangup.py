"""A closed terminal (SIGHUP) stops the local Batch service as Ctrl-C does: it exits 0 having saved its state,
rather than dying at once with the signal's default action."""

from __future__ import annotations

import signal
from pathlib import Path

from tests.integration.batch_service.conftest import launch


def test_sighup_stops_the_service_cleanly(tmp_path: Path) -> None:
    service = launch(tmp_path)
    try:
        assert service.process is not None
        service.process.send_signal(signal.SIGHUP)
        assert service.process.wait(timeout=30) == 0  # the default action would end it -SIGHUP
    finally:
        service.stop()
