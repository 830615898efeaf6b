"""The one launcher of the local stack's children, with real child processes: readiness on a condition with a
deadline, one error type naming the child, its reason and its log's tail, SIGTERM then SIGKILL."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import pytest

from emulators.child_process import ChildFailed, ChildProcess

pytestmark = pytest.mark.integration


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_a_child_is_ready_when_its_condition_holds_and_stops_on_sigterm(tmp_path: Path) -> None:
    flag = tmp_path / "up"
    code = f"import pathlib, time; pathlib.Path({str(flag)!r}).touch(); time.sleep(600)"
    with ChildProcess("sleeper", python(code), ready=flag.exists, log_file=tmp_path / "log").start(30) as child:
        assert child.alive() and child.pid is not None
    assert not child.alive() and child.stop() == -signal.SIGTERM  # a second stop only reads the code again


def test_a_child_that_exits_first_fails_at_once_with_its_code_and_log_tail(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "child.log"  # its folder is created
    code = "import sys; print('\\n'.join(f'line {i}' for i in range(30))); sys.exit(3)"
    child = ChildProcess("the doomed", python(code), ready=lambda: False, log_file=log)
    with pytest.raises(ChildFailed, match="the doomed: exited with code 3 before it was ready") as failure:
        child.start(60)
    assert failure.value.name == "the doomed" and "exited with code 3" in failure.value.reason
    assert failure.value.log_tail.splitlines() == [f"line {i}" for i in range(10, 30)]  # the last 20 lines
    assert str(log) in str(failure.value)


def test_a_child_that_never_gets_ready_is_stopped_at_the_deadline(tmp_path: Path) -> None:
    child = ChildProcess("the silent", python("import time; time.sleep(600)"), ready=lambda: False)
    with pytest.raises(ChildFailed, match="the silent: did not answer within 1 s"):
        child.start(1)
    assert not child.alive() and child.process is not None and child.process.returncode == -signal.SIGTERM


def test_a_child_that_ignores_sigterm_is_killed_after_the_stop_timeout(tmp_path: Path) -> None:
    flag = tmp_path / "up"
    code = (f"import pathlib, signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            f"pathlib.Path({str(flag)!r}).touch(); time.sleep(600)")  # fmt: skip
    child = ChildProcess("the stubborn", python(code), ready=flag.exists, stop_timeout_s=0.5).start(30)
    assert child.stop() == -signal.SIGKILL


def test_a_program_that_cannot_be_run_is_the_same_error(tmp_path: Path) -> None:
    child = ChildProcess("the missing", [str(tmp_path / "no-such-program")], ready=lambda: True)
    with pytest.raises(ChildFailed, match="the missing: cannot be started"):
        child.start(5)
