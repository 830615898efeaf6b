"""However `sitelens demo` ends, its stack is stopped; its folder is removed after a demo that worked, and after
one that did not (or was interrupted) only its logs and telemetry are kept, with its nodes' and tasks' logs. A
second Ctrl-C (or SIGTERM, or a hangup) while the stack stops neither cuts the stop short nor escapes as a
traceback."""

from __future__ import annotations

import argparse
import os
import signal
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from emulators.child_process import ChildFailed
from sitelens import demo_command

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
NODE = "batch/nodes/sitelens-gpu/tvm-1"
TASK = f"{NODE}/workitems/sitelens-20261207/job-1/j_abc"
# What a stack writes beside its logs and telemetry, tens of MB of it data, and which of it tells why a node or a
# task failed: the node server's log, the start task's output, a task's output.
NODE_LOGS = [f"{NODE}/shared/sitelens-server.log", f"{NODE}/startup/stdout.txt", f"{NODE}/startup/stderr.txt",
             f"{TASK}/stdout.txt", f"{TASK}/stderr.txt"]  # fmt: skip
DATA = ["azurite/__blobstorage__/photo", "batch/store.json", f"{NODE}/startup/wd/bin/python", f"{TASK}/wd/input.jpg",
        f"{NODE}/shared/sitelens-server.sock", "stack.json"]  # fmt: skip


class FakeStack:
    """What the demo needs of a Stack; `stop` can be interrupted by a signal sent in its middle."""

    batch = None
    functions_url = "http://127.0.0.1:1"

    def __init__(self, state_dir: Path, **_ports: Any) -> None:
        self.state_dir = state_dir
        self.start_error: ChildFailed | None = None
        self.signal_mid_stop: signal.Signals | None = None
        self.stopped = False

    def start(self) -> FakeStack:
        for name in ("logs/batch.log", "telemetry/spans.jsonl", *NODE_LOGS, *DATA):
            (self.state_dir / name).parent.mkdir(parents=True, exist_ok=True)
            (self.state_dir / name).write_text("written by the stack\n")
        if self.start_error is not None:
            raise self.start_error
        return self

    def stop(self) -> None:
        if self.signal_mid_stop is not None:
            os.kill(os.getpid(), self.signal_mid_stop)  # the handler runs before the next line
        self.stopped = True  # Azurite's stop, the last of the three


def _raise_interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


@pytest.fixture(autouse=True)
def own_handlers() -> Iterator[None]:
    """Every stop signal raises KeyboardInterrupt unless the demo handles it otherwise, so none ends the test
    process; the test process gets its own handlers back afterwards."""
    saved = {sig: signal.signal(sig, _raise_interrupt) for sig in STOP_SIGNALS}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


@pytest.fixture
def demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., tuple[int, FakeStack, Path]]:
    """Run `sitelens demo` on a fake stack in a folder under tmp_path, its steps replaced by `steps`."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    made: list[FakeStack] = []
    setup: dict[str, Any] = {}

    def make_stack(**kwargs: Any) -> FakeStack:
        stack = FakeStack(**kwargs)
        stack.start_error, stack.signal_mid_stop = setup.get("start_error"), setup.get("signal_mid_stop")
        made.append(stack)
        return stack

    monkeypatch.setattr(demo_command, "Stack", make_stack)

    def run(steps: Callable[..., int], **options: Any) -> tuple[int, FakeStack, Path]:
        setup.update(options)
        monkeypatch.setattr(demo_command, "_steps", steps)
        args = argparse.Namespace(photos=4, keep=False, report=None, models=False)
        try:
            code = demo_command.run(args)
        except KeyboardInterrupt:
            pytest.fail("an interrupt during the cleanup escaped it")
        return code, made[-1], made[-1].state_dir

    return run


def interrupted(*_args: object) -> int:
    raise KeyboardInterrupt  # the first Ctrl-C, while the jobs are followed


@pytest.mark.parametrize("second", STOP_SIGNALS, ids=lambda s: s.name)
def test_a_second_interrupt_during_the_stop_neither_cuts_it_short_nor_escapes(
    demo: Callable[..., tuple[int, FakeStack, Path]], second: signal.Signals, capsys: pytest.CaptureFixture[str]
) -> None:
    code, stack, state = demo(interrupted, signal_mid_stop=second)
    assert code == 130
    assert stack.stopped
    assert state.is_dir() and kept_logs(state) in capsys.readouterr().out  # interrupted is not a success


def kept_logs(state: Path) -> str:
    return (f"demo: kept {state / 'logs'}, {state / 'telemetry'} and the node and task logs in "
            f"{state / 'batch' / 'nodes'}, removed the rest; remove {state} when done")  # fmt: skip


@pytest.mark.parametrize("steps", [interrupted, lambda *_: 1], ids=["interrupted", "failed"])
def test_a_demo_that_did_not_work_keeps_only_its_logs_telemetry_and_node_and_task_logs(
    demo: Callable[..., tuple[int, FakeStack, Path]], steps: Callable[..., int], capsys: pytest.CaptureFixture[str]
) -> None:
    code, _stack, state = demo(steps)
    assert code != 0
    left = sorted(str(p.relative_to(state)) for p in state.rglob("*") if p.is_file())
    assert left == sorted(["logs/batch.log", "telemetry/spans.jsonl", *NODE_LOGS])
    assert not (state / TASK / "wd").exists() and not (state / "azurite").exists()  # no folder left empty
    assert kept_logs(state) in capsys.readouterr().out


def test_a_demo_without_node_logs_keeps_its_logs_and_telemetry_and_says_so(tmp_path: Path) -> None:
    """No node or task wrote a log (the stack stopped before any node started): the Batch service's folder goes."""
    for name in ("logs/batch.log", "telemetry/spans.jsonl", "batch/store.json", f"{TASK}/wd/input.jpg"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("written by the stack\n")
    said = demo_command._keep_logs(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["logs", "telemetry"]
    assert said.startswith(f"kept {tmp_path / 'logs'} and {tmp_path / 'telemetry'}, removed the rest;")


def test_a_demo_that_worked_is_stopped_and_its_folder_removed_even_when_interrupted_mid_stop(
    demo: Callable[..., tuple[int, FakeStack, Path]],
) -> None:
    code, stack, state = demo(lambda *_: 0, signal_mid_stop=signal.SIGINT)
    assert (code, stack.stopped, state.exists()) == (0, True, False)


def test_a_failed_demo_keeps_its_folder_with_the_logs_and_says_where(
    demo: Callable[..., tuple[int, FakeStack, Path]], capsys: pytest.CaptureFixture[str]
) -> None:
    code, stack, state = demo(lambda *_: 1)
    assert (code, stack.stopped) == (1, True)
    assert (state / "logs").is_dir()
    assert kept_logs(state) in capsys.readouterr().out


def test_a_stack_that_did_not_start_keeps_the_logs_it_points_at(
    demo: Callable[..., tuple[int, FakeStack, Path]], capsys: pytest.CaptureFixture[str]
) -> None:
    code, stack, state = demo(lambda *_: 0, start_error=ChildFailed("the Functions host", "exited with code 1"))
    out = capsys.readouterr().out
    assert (code, stack.stopped) == (1, True)
    assert f"logs: {state / 'logs'}" in out and (state / "logs").is_dir()
