"""`make clean-local` removes the local stack's data; what a killed `make dev` left running (it would write there
again) is stopped first, under the state dir's lock, and while a `make dev` holds that lock nothing is touched."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from sitelens.dev_command import LOCK_FILE, claim
from tests.support.leftovers import kill_naming, naming, stand_ins
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def checkout(tmp_path: Path) -> Iterator[Path]:
    """A folder to run the Makefile in, with a `.local` holding a stack's data and a model cache."""
    root = tmp_path.resolve()
    for name in ("azurite", "batch", "logs", "telemetry", "cache"):
        (root / ".local" / name).mkdir(parents=True)
        (root / ".local" / name / "file").write_text(name)
    (root / ".local" / "stack.json").write_text("{}")
    yield root
    kill_naming(root)


def clean_local(checkout: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["make", "-s", "-C", str(checkout), "-f", str(REPO / "Makefile"), f"VENV={REPO / '.venv'}",
                           "clean-local"], check=False, capture_output=True, text=True, timeout=120)  # fmt: skip


def test_clean_local_stops_what_a_killed_dev_left_then_removes_the_data(checkout: Path) -> None:
    state = checkout / ".local"
    with stand_ins() as started:
        azurite = started.start("--location", str(state / "azurite"))  # as a killed `make dev` left it
        wait_for(lambda: naming(state), 10, "the stand-in in /proc")
        done = clean_local(checkout)
        assert done.returncode == 0, done.stdout + done.stderr
        assert azurite.wait(10) == -signal.SIGTERM
    assert f"stopped the Azurite (pid {azurite.pid})" in done.stdout
    assert sorted(p.name for p in state.iterdir()) == ["cache", LOCK_FILE]  # the data gone, the model cache kept


def test_clean_local_is_refused_while_a_dev_holds_the_lock(checkout: Path) -> None:
    state = checkout / ".local"
    with stand_ins() as started, (state / LOCK_FILE).open("a+") as lock:
        assert claim(lock) is None  # a running `make dev`
        azurite = started.start("--location", str(state / "azurite"))  # its Azurite
        done = clean_local(checkout)
        assert done.returncode != 0
        assert "stop that one first" in done.stdout + done.stderr or "stop it first" in done.stdout + done.stderr
        assert azurite.poll() is None
    assert {p.name for p in state.iterdir()} >= {"azurite", "batch", "logs", "telemetry", "stack.json"}
