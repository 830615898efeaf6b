"""The local host's queue message lease: the extension's 10 minutes unless the emulator-only setting
shortens it (the chaos run does, so a message a killed host held comes back within its run)."""

from __future__ import annotations

import os
import subprocess
import sys

CODE = "from emulators.functions_host.queue_listener import LEASE; print(LEASE.total_seconds())"


def _lease(value: str | None) -> float:
    env = {k: v for k, v in os.environ.items() if k != "SITELENS_HOST_MESSAGE_LEASE_S"}
    if value is not None:
        env["SITELENS_HOST_MESSAGE_LEASE_S"] = value
    done = subprocess.run([sys.executable, "-c", CODE], env=env, capture_output=True, text=True, check=True)
    return float(done.stdout)


def test_the_lease_is_ten_minutes_unless_the_setting_shortens_it() -> None:
    assert _lease(None) == 600.0
    assert _lease("60") == 60.0
