"""The task's wait for the node server (`SITELENS_TASK_TIMEOUT_S`, or `--timeout`): a malformed one is a usage
error, exit 2 with the variable named, like any other bad argument; never a traceback and exit 1, which Batch
would report as a failure of the task's own code."""

from __future__ import annotations

import pytest

from batch_tasks import errors, task


@pytest.mark.parametrize("value", ["10m", "0", "-5", "nan", "inf", ""])
def test_a_timeout_in_the_environment_that_is_not_a_positive_number_is_a_usage_error_naming_it(
    value: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SITELENS_TASK_TIMEOUT_S", value)
    with pytest.raises(SystemExit) as exited:
        task.main(["j_x"])
    assert exited.value.code == errors.USAGE
    said = capsys.readouterr().err
    assert f"SITELENS_TASK_TIMEOUT_S must be a positive number of seconds, not {value!r}" in said
    assert "Traceback" not in said


@pytest.mark.parametrize("value", ["10m", "-5", "0"])
def test_a_timeout_argument_that_is_not_a_positive_number_is_a_usage_error(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        task.main(["j_x", f"--timeout={value}"])
    assert exited.value.code == errors.USAGE
    assert "--timeout: must be a positive number of seconds" in capsys.readouterr().err


@pytest.mark.parametrize(("environment", "argv", "waits"), [
    (None, [], 540.0), ("120", [], 120.0), (" 90.5 ", [], 90.5), ("10m", ["--timeout", "30"], 30.0)])  # fmt: skip
def test_the_wait_comes_from_the_argument_else_the_environment_else_540_s(
    environment: str | None, argv: list[str], waits: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    if environment is None:
        monkeypatch.delenv("SITELENS_TASK_TIMEOUT_S", raising=False)
    else:
        monkeypatch.setenv("SITELENS_TASK_TIMEOUT_S", environment)
    assert task._parse(["j_x", *argv]).timeout == waits
