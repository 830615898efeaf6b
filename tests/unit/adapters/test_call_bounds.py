"""The clients' time bounds (shared/adapters/azure_call_bounds.py) fit the budgets they protect: the longest a call
that gets no answer, or only throttled ones, can take, every try and wait included, against the HTTP front end's
limit, a timer run's budget inside host.json's functionTimeout, and a health round that `/api/health`'s callers
queue for; and the Batch and Table clients the app builds sleep no longer than the cap for a `Retry-After`."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from azure.core.pipeline import PipelineContext, PipelineResponse
from azure.core.pipeline.policies import RetryPolicy
from azure.core.rest import HttpRequest
from azure.data.tables._policies import TablesRetryPolicy

from shared import composition
from shared.adapters.azure_call_bounds import (
    APP_CALLS,
    HEALTH_CHECK_CALLS,
    HTTP_LIMIT_S,
    RETRY_AFTER_CAP_S,
    CallBounds,
    core_backoff_s,
    core_wait_s,
    storage_backoff_s,
)
from shared.adapters.azure_retry_caps import RetryAfterCappedPolicy, TablesRetryAfterCappedPolicy
from shared.config import Settings
from shared.jobs import reconciler, record_expiry

REPO = Path(__file__).resolve().parents[3]
# What each SDK waits before a retry, at most: the storage SDKs' ExponentialRetry never reads `Retry-After`.
WAITS = {"Batch and Tables": core_wait_s, "Blob and Queue": storage_backoff_s}


def function_timeout() -> timedelta:
    hours, minutes, seconds = json.loads((REPO / "host.json").read_text())["functionTimeout"].split(":")
    return timedelta(hours=int(hours), minutes=int(minutes), seconds=int(seconds))


def test_the_worst_case_counts_every_try_and_every_wait() -> None:
    bounds = CallBounds(connect_s=1, read_s=2, retries=2)
    assert bounds.worst_case_s(core_backoff_s) == 3 * 3 + 0 + 1.6
    assert bounds.worst_case_s(core_wait_s) == 3 * 3 + (0 + RETRY_AFTER_CAP_S) + (1.6 + RETRY_AFTER_CAP_S)
    assert bounds.worst_case_s(storage_backoff_s) == 3 * 3 + (15 + 3 + 3) + (15 + 9 + 3)
    assert CallBounds(connect_s=1, read_s=2, retries=0).worst_case_s(storage_backoff_s) == 3


@pytest.mark.parametrize("sdk", WAITS)
def test_an_unanswered_call_ends_inside_an_http_request_and_a_reconcile_run(sdk: str) -> None:
    worst_s = APP_CALLS.worst_case_s(WAITS[sdk])
    assert worst_s < HTTP_LIMIT_S
    # The budget is checked before each job; the job in hand ends at its first call that gets no answer, and the run
    # then writes its cursor to the jobs table.
    cursor_s = APP_CALLS.worst_case_s(core_wait_s)
    assert reconciler.RUN_BUDGET.total_seconds() + worst_s + cursor_s < function_timeout().total_seconds()


def test_a_record_expiry_run_over_a_stalled_table_ends_inside_the_function_timeout() -> None:
    """Each worker checks the budget before each job it starts: a job started just before it is ended by its first
    Table call that gets no answer, and is all the run adds."""
    job_s = APP_CALLS.worst_case_s(core_wait_s)
    assert record_expiry.RUN_BUDGET.total_seconds() + job_s < function_timeout().total_seconds()


def test_a_health_round_over_three_stalled_dependencies_is_short() -> None:
    round_s = 3 * max(HEALTH_CHECK_CALLS.worst_case_s(wait) for wait in WAITS.values())
    assert round_s <= 45 < HTTP_LIMIT_S


class Answer:
    """What the retry policies read of an answer: its headers."""

    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = headers


@pytest.mark.parametrize("policy", [RetryAfterCappedPolicy, TablesRetryAfterCappedPolicy])
@pytest.mark.parametrize(("asked", "slept"), [("600", RETRY_AFTER_CAP_S), ("3", 3.0), (None, None)])
def test_a_retry_after_is_slept_up_to_the_cap(policy: type[RetryPolicy[Any, Any]], asked: str | None,
                                               slept: float | None) -> None:  # fmt: skip
    answer = Answer({"Retry-After": asked} if asked else {})
    response: PipelineResponse[Any, Any] = PipelineResponse(HttpRequest("POST", "http://127.0.0.1/"), answer,
                                                            PipelineContext(None))  # fmt: skip
    assert policy(retry_total=2).get_retry_after(response) == slept  # None: the policy's own backoff


def test_the_app_builds_its_batch_and_table_clients_with_the_capped_policy_and_the_bounds_total() -> None:
    settings = Settings.from_env({"AzureWebJobsStorage": "UseDevelopmentStorage=true",
                                  "SITELENS_BATCH_URL": "http://127.0.0.1:1", "SITELENS_BATCH_ACCOUNT": "sitelens",
                                  "SITELENS_BATCH_KEY": "a2V5"})  # fmt: skip
    for bounds in (APP_CALLS, HEALTH_CHECK_CALLS):
        table = composition.table_service(settings, bounds)
        [table_policy] = [p for p in table._policies if isinstance(p, TablesRetryPolicy)]
        batch_policy = composition.batch_client(settings, bounds)._config.retry_policy
        for policy in (table_policy, batch_policy):
            assert isinstance(policy, RetryAfterCappedPolicy) and policy.total_retries == bounds.retries
