"""`batch_tasks.start.main` against stand-ins: `systemctl` and `journalctl` scripts on PATH (they log their
arguments; `systemctl show` prints a state file), a scripted health reply, and a fake clock, so a start that
waits its whole timeout shows as the clock reaching it, not as a slow test."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from batch_tasks import start
from batch_tasks.node import nvidia

WARM = "ocr/ppocrv4"
SLEEP = time.sleep  # the real one, before a test's fake clock replaces it
Report = dict[str, object] | None


@dataclass
class Node:
    root: Path
    clock: list[float] = field(default_factory=lambda: [0.0])

    @property
    def calls(self) -> list[str]:
        log = self.root / "systemctl.log"
        return log.read_text().splitlines() if log.exists() else []

    @property
    def unit(self) -> Path:
        return self.root / "units" / start.UNIT_NAME

    def unit_state(self, active: str, restarts: int) -> None:
        (self.root / "state").write_text(f"NRestarts={restarts}\nActiveState={active}\n")


def _script(path: Path, body: str) -> None:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)


@pytest.fixture
def node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Node:
    fakes = tmp_path / "bin"
    fakes.mkdir()
    (tmp_path / "units").mkdir()
    _script(fakes / "systemctl", f'echo "$*" >> {tmp_path}/systemctl.log\n[ "$1" = show ] && cat {tmp_path}/state\n'
                                 "exit 0\n")  # fmt: skip
    _script(fakes / "journalctl", 'echo "server: model ocr/ppocrv4 is not served: no CUDA (model_unavailable)"\n')
    monkeypatch.setenv("PATH", f"{fakes}:{os.environ['PATH']}")
    monkeypatch.setenv("AZ_BATCH_NODE_SHARED_DIR", str(tmp_path / "shared"))
    for name, value in {"SITELENS_PROVIDER": "cpu", "SITELENS_WARM_MODELS": WARM, "SITELENS_MODEL_CACHE": "2"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(start, "UNIT_DIR", tmp_path / "units")
    n = Node(tmp_path)
    n.unit_state("active", 0)
    monkeypatch.setattr(time, "monotonic", lambda: n.clock[0])
    monkeypatch.setattr(time, "sleep", lambda s: n.clock.__setitem__(0, n.clock[0] + s))
    return n


def _health(monkeypatch: pytest.MonkeyPatch, reply: Callable[[], Report]) -> None:
    monkeypatch.setattr(start, "health", lambda settings, timeout=2.0: reply())


def _ready(pid: int, *models: str) -> dict[str, object]:
    served = [{"id": m, "provider": "CPUExecutionProvider"} for m in models]
    return {"ok": True, "ready": True, "pid": pid, "models": served}


def test_a_ready_server_of_an_older_package_is_moved_onto_this_one(node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    """A reboot after a new package: systemd restored the old package's server, which answers ready. The start
    task used to stop there, never writing the new unit, so the node ran old code from a venv about to go."""
    node.unit.write_text("[Service]\nExecStart=/mnt/shared/sitelens/0ld/bin/python -m batch_tasks.node.server\n")
    _health(monkeypatch, lambda: _ready(2 if "restart " + start.UNIT_NAME in node.calls else 1, WARM))
    assert start.main(["--supervisor", "systemd", "--timeout", "60"]) == 0
    assert f"ExecStart={sys.executable} -m batch_tasks.node.server" in node.unit.read_text()
    assert node.calls[0] == "daemon-reload"
    assert "restart " + start.UNIT_NAME in node.calls


def test_an_unchanged_unit_leaves_the_running_server_alone(node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    start.install_systemd(dict(os.environ))  # as an earlier run of this package
    before = len(node.calls)
    _health(monkeypatch, lambda: _ready(1, WARM))
    assert start.main(["--supervisor", "systemd", "--timeout", "60"]) == 0
    assert not any(c.startswith(("restart", "daemon-reload")) for c in node.calls[before:])


def test_a_warm_model_that_did_not_load_fails_the_start_with_the_journal(
    node: Node, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _health(monkeypatch, lambda: _ready(1))  # ready, but the warm-up's model failed (no CUDA, say)
    assert start.main(["--supervisor", "systemd", "--timeout", "60"]) == 1
    err = capsys.readouterr().err
    assert f"warm models not served: {WARM}" in err
    assert "no CUDA (model_unavailable)" in err  # the journal's tail: under systemd there is no log file


def test_a_detached_server_without_its_warm_model_fails_the_start_with_its_log(
    node: Node, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    shared = node.root / "shared"
    shared.mkdir()
    (shared / "sitelens-server.pid").write_text(str(os.getpid()))  # a live server's pid
    (shared / "sitelens-server.log").write_text("model ocr/ppocrv4 is not served: CUDA is not available\n")
    _health(monkeypatch, lambda: _ready(1))
    assert start.main(["--supervisor", "detached", "--timeout", "60"]) == 1
    err = capsys.readouterr().err
    assert f"warm models not served: {WARM}" in err and "CUDA is not available" in err


def test_a_unit_systemd_gave_up_on_ends_the_wait_at_once(
    node: Node, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    node.unit_state("failed", 5)
    _health(monkeypatch, lambda: None)  # never answers
    assert start.main(["--supervisor", "systemd", "--timeout", "600"]) == 1
    assert "gave up" in capsys.readouterr().err
    assert node.clock[0] < 600  # not the whole timeout


def test_a_server_restarting_again_and_again_ends_the_wait(
    node: Node, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A server that crashes after loading for a while restarts more slowly than the start limit counts."""
    restarts = itertools.count()

    def crashed_again() -> Report:
        node.unit_state("activating", next(restarts))
        return None

    _health(monkeypatch, crashed_again)
    assert start.main(["--supervisor", "systemd", "--timeout", "600"]) == 1
    assert "restarted 5 times while starting" in capsys.readouterr().err
    assert node.clock[0] < 600


def test_a_driver_too_old_fails_before_the_server_is_touched(
    node: Node, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _script(node.root / "bin" / "nvidia-smi", "echo 560.35.03\n")
    monkeypatch.setenv("SITELENS_PROVIDER", "auto")
    monkeypatch.setattr(nvidia, "cuda_build", lambda: True)  # onnxruntime-gpu, as on a node
    _health(monkeypatch, lambda: _ready(1, WARM))
    assert start.main(["--supervisor", "systemd", "--timeout", "60"]) == 1
    assert "the NVIDIA driver is 560.35.03" in capsys.readouterr().err
    assert node.calls == [] and not node.unit.exists()

    _script(node.root / "bin" / "nvidia-smi", "echo 580.95.05\n")
    assert start.main(["--supervisor", "systemd", "--timeout", "60"]) == 0


def test_a_server_ready_without_its_warm_model_is_restarted_once_under_systemd(
    node: Node, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A warm model that failed past the server's retries (storage not answering at boot): Batch re-runs the start
    task, whose unit is unchanged, so the server was left as it was and every attempt failed at once."""
    start.install_systemd(dict(os.environ))  # as the failed attempt before
    before = len(node.calls)

    def restarted() -> bool:
        return "restart " + start.UNIT_NAME in node.calls[before:]

    _health(monkeypatch, lambda: _ready(2, WARM) if restarted() else _ready(1))
    assert start.main(["--supervisor", "systemd", "--timeout", "60"]) == 0
    assert node.calls[before:].count("restart " + start.UNIT_NAME) == 1
    assert f"ready without {WARM}; restarting it" in capsys.readouterr().out


def test_the_restart_is_once_per_start_and_a_server_still_without_its_model_fails_it(
    node: Node, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    start.install_systemd(dict(os.environ))
    before = len(node.calls)
    _health(monkeypatch, lambda: _ready(1))  # the model does not load in the new server either
    assert start.main(["--supervisor", "systemd", "--timeout", "60"]) == 1
    assert node.calls[before:].count("restart " + start.UNIT_NAME) == 1
    assert f"warm models not served: {WARM}" in capsys.readouterr().err


def test_a_detached_server_ready_without_its_warm_model_is_stopped_and_launched_again(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = node.root / "shared"
    shared.mkdir()
    old = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])  # the server that runs
    try:
        (shared / "sitelens-server.pid").write_text(str(old.pid))
        launches: list[object] = []

        def launch(settings: object) -> int:
            launches.append(settings)
            return os.getpid()  # the new supervisor: alive while the start waits

        def tick(seconds: float) -> None:  # the fake clock, and a moment for the real process to exit
            node.clock[0] += seconds
            SLEEP(0.01)

        monkeypatch.setattr(start, "launch_detached", launch)
        monkeypatch.setattr(time, "sleep", tick)
        _health(monkeypatch, lambda: _ready(old.pid + 1, WARM) if launches else _ready(old.pid))
        assert start.main(["--supervisor", "detached", "--timeout", "60"]) == 0
        assert old.wait(5) == -signal.SIGTERM and len(launches) == 1
    finally:
        old.kill()
        old.wait()
