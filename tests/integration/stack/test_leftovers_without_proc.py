"""Where there is no /proc (macOS), `sitelens dev --clean` stops nothing: of the pids `stack.json` records, it
counts as possibly still running only those whose command line, as `ps` shows it, carries their launcher's
mark. A recorded pid another program has taken since (after a power loss) does not hold the clean up forever."""

from __future__ import annotations

import argparse
import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulators.batch_service import processes
from emulators.signals import STOP_SIGNALS
from sitelens import dev_command
from tests.support.leftovers import kill_naming, stand_ins

pytestmark = pytest.mark.integration


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A state dir on a machine without /proc; the test process gets its signal handlers back afterwards (the
    command sets its own)."""
    no_proc = tmp_path / "no-proc"
    monkeypatch.setattr(dev_command, "_PROC", no_proc)
    monkeypatch.setattr(processes, "_PROC", no_proc)
    state = (tmp_path / "state").resolve()
    (state / "azurite").mkdir(parents=True)
    (state / "azurite" / "__blobstorage__").write_bytes(b"blob")
    saved = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    yield state
    for sig, handler in saved.items():
        signal.signal(sig, handler)
    kill_naming(state)


def record(state: Path, **pids: int) -> None:
    (state / "stack.json").write_text(json.dumps({"pids": pids}))


def clean(state: Path) -> int:
    return dev_command.run(argparse.Namespace(state_dir=state, clean=True))


def test_a_recorded_pid_another_program_has_taken_does_not_hold_the_clean_up(
    state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record(state_dir, azurite=os.getpid(), batch=os.getpid(), functions=os.getpid())  # alive, and this test's own
    assert clean(state_dir) == 0, capsys.readouterr().out
    assert not (state_dir / "azurite").exists() and not (state_dir / "stack.json").exists()


def test_a_recorded_pid_that_still_carries_its_mark_is_named_and_left_running(
    state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with stand_ins() as started:
        azurite = started.start("--location", str(state_dir / "azurite"))
        elsewhere = started.start("--data", str(state_dir / "batch-old"))  # another folder whose name starts the same
        record(state_dir, azurite=azurite.pid, batch=elsewhere.pid)
        assert dev_command.stop_leftovers(state_dir) == ([], [("Azurite", azurite.pid)])
        assert clean(state_dir) == 1
        assert (azurite.poll(), elsewhere.poll()) == (None, None)  # nothing is stopped without /proc
    assert (state_dir / "azurite" / "__blobstorage__").exists()
    assert f"names processes that may still run: Azurite pid {azurite.pid};" in capsys.readouterr().out
