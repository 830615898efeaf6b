"""The clients' time bounds (shared/adapters/azure_call_bounds.py) fit the budgets they protect: the longest a call
that gets no answer can take, every try and backoff included, against the HTTP front end's limit, a timer run's
budget inside host.json's functionTimeout, and a health round that `/api/health`'s callers queue for."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from shared.adapters.azure_call_bounds import (
    APP_CALLS,
    HEALTH_CHECK_CALLS,
    HTTP_LIMIT_S,
    CallBounds,
    core_backoff_s,
    storage_backoff_s,
)
from shared.jobs import reconciler, record_expiry

REPO = Path(__file__).resolve().parents[3]
BACKOFFS = {"Batch and Tables": core_backoff_s, "Blob and Queue": storage_backoff_s}


def function_timeout() -> timedelta:
    hours, minutes, seconds = json.loads((REPO / "host.json").read_text())["functionTimeout"].split(":")
    return timedelta(hours=int(hours), minutes=int(minutes), seconds=int(seconds))


def test_the_worst_case_counts_every_try_and_every_backoff() -> None:
    bounds = CallBounds(connect_s=1, read_s=2, retries=2)
    assert bounds.worst_case_s(core_backoff_s) == 3 * 3 + 0 + 1.6
    assert bounds.worst_case_s(storage_backoff_s) == 3 * 3 + (15 + 3 + 3) + (15 + 9 + 3)
    assert CallBounds(connect_s=1, read_s=2, retries=0).worst_case_s(storage_backoff_s) == 3


@pytest.mark.parametrize("sdk", BACKOFFS)
def test_an_unanswered_call_ends_inside_an_http_request_and_a_reconcile_run(sdk: str) -> None:
    worst_s = APP_CALLS.worst_case_s(BACKOFFS[sdk])
    assert worst_s < HTTP_LIMIT_S
    # The budget is checked before each job; the job in hand ends at its first call that gets no answer, and the run
    # then writes its cursor to the jobs table.
    cursor_s = APP_CALLS.worst_case_s(core_backoff_s)
    assert reconciler.RUN_BUDGET.total_seconds() + worst_s + cursor_s < function_timeout().total_seconds()


def test_a_record_expiry_run_over_a_stalled_table_ends_inside_the_function_timeout() -> None:
    """The budget is checked after each chunk of 4 jobs a worker; each worker expires its 4 one after another,
    each ended by its first Table call that gets no answer."""
    chunk_s = 4 * APP_CALLS.worst_case_s(core_backoff_s)
    assert record_expiry.RUN_BUDGET.total_seconds() + chunk_s < function_timeout().total_seconds()


def test_a_health_round_over_three_stalled_dependencies_is_short() -> None:
    round_s = 3 * max(HEALTH_CHECK_CALLS.worst_case_s(backoff) for backoff in BACKOFFS.values())
    assert round_s <= 45 < HTTP_LIMIT_S
