"""The task's own wait for the node server ends before Batch's wall clock does, whatever the deployment sets."""

from __future__ import annotations

from datetime import timedelta

import pytest

from batch_tasks import task
from shared.adapters.azure_batch_submitter import BatchTaskSubmitter, TaskSpec
from shared.jobs.ports import TaskRequest


def environment(spec: TaskSpec) -> dict[str, str]:
    request = TaskRequest("j_x", "sitelens-20261206", "ocr/ppocrv4", "http://127.0.0.1:10000/derived/j_x")
    built = BatchTaskSubmitter(client=None, spec=spec)._task(request)  # type: ignore[arg-type]  # builds only
    return {e.name: e.value or "" for e in built.environment_settings or []}


@pytest.mark.parametrize("minutes", [1, 5, 10, 60])
def test_the_task_gives_up_before_its_wall_clock_and_leaves_time_to_report(minutes: int, monkeypatch) -> None:
    wall_clock = timedelta(minutes=minutes)
    env = environment(TaskSpec(pool_id="p", command="run", max_wall_clock=wall_clock))
    monkeypatch.setenv("SITELENS_TASK_TIMEOUT_S", env["SITELENS_TASK_TIMEOUT_S"])
    waits = task._parse(["j_x"]).timeout  # as the task on the node reads its environment
    assert 0 < waits < wall_clock.total_seconds()
    assert wall_clock.total_seconds() - waits >= 6  # time left to post the failure


def test_a_deployment_may_still_set_the_wait_itself() -> None:
    spec = TaskSpec(pool_id="p", command="run", environment={"SITELENS_TASK_TIMEOUT_S": "100"})
    assert environment(spec)["SITELENS_TASK_TIMEOUT_S"] == "100"
