"""A `sitelens demo` killed outright (SIGKILL: a CI timeout, the OOM killer) cannot stop its stack; the next demo
stops what it left and keeps only that folder's logs and telemetry, and never touches a demo that still runs."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from emulators.batch_service.processes import alive
from sitelens import demo_command
from sitelens.dev_command import LOCK_FILE, claim
from tests.support.leftovers import kill_naming, naming, stand_ins
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]


class NoStack:
    """The next demo's stack: only its start matters here, which comes after the killed demo's are stopped."""

    batch = None
    functions_url = "http://127.0.0.1:1"

    def __init__(self, **_settings: Any) -> None:
        pass

    def start(self) -> NoStack:
        return self

    def stop(self) -> None:
        pass


@pytest.fixture
def temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The system's temporary folder, for the demos of this test alone; what they left is killed afterwards."""
    folder = tmp_path.resolve()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGHUP)}  # the demo sets its own
    yield folder
    for sig, handler in saved.items():
        signal.signal(sig, handler)
    kill_naming(folder)


def next_demo(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(demo_command, "Stack", NoStack)
    monkeypatch.setattr(demo_command, "_steps", lambda *_: 0)
    return demo_command.run(argparse.Namespace(photos=1, keep=False, report=None, models=False))


def killed_demo_folder(temp: Path) -> tuple[Path, int]:
    """Start `sitelens demo`, SIGKILL it once its Azurite runs; its folder, and the Azurite it left."""
    env = {**os.environ, "TMPDIR": str(temp)}
    cmd = [sys.executable, "-m", "sitelens", "demo", "--photos", "1"]
    demo = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)  # fmt: skip
    try:

        def azurite() -> tuple[Path, int] | None:
            for folder in temp.glob("sitelens-demo-*"):
                if pids := naming(folder / "azurite"):
                    return folder, pids[0]
            assert demo.poll() is None, demo.communicate()[0]
            return None

        folder, pid = wait_for(azurite, 60, "the demo's Azurite")
        os.kill(demo.pid, signal.SIGKILL)
        demo.wait(10)
    finally:
        if demo.poll() is None:
            demo.kill()
        demo.communicate()
    return folder, pid


def test_the_next_demo_stops_what_a_killed_demo_left_and_keeps_its_logs(
    temp: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, azurite = killed_demo_folder(temp)
    assert alive(azurite)  # a session of its own: the kill did not reach it
    with stand_ins() as started:
        running = temp / "sitelens-demo-running"  # a demo that still runs: its lock is held
        running.mkdir()
        with (running / LOCK_FILE).open("a+") as lock:
            assert claim(lock) is None
            its_azurite = started.start("--location", str(running / "azurite"))
            wait_for(lambda: naming(running), 10, "the running demo's stand-in in /proc")
            assert next_demo(monkeypatch) == 0
            assert its_azurite.poll() is None and (running / LOCK_FILE).exists()
    assert not alive(azurite)
    assert naming(folder) == []
    assert {p.name for p in folder.iterdir()} <= {"logs", "telemetry"} and (folder / "logs").is_dir()
    out = capsys.readouterr().out
    assert f"demo: stopped the Azurite (pid {azurite}) that a killed demo left running in {folder}" in out
    assert f"demo: a killed demo left {folder}: kept {folder / 'logs'}" in out
