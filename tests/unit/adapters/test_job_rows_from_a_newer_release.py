"""`from_entity` reads a job row a newer release wrote: an extra property is ignored, an unknown state is that
job's own typed error (a rollback, or an older instance beside a newer one, must not answer 500)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from azure.data.tables import TableEntity

from shared import problems
from shared.adapters.azure_job_store import from_entity, to_entity
from shared.errors import PermanentError, UnknownJobState
from shared.jobs.models import Job, JobState

JOB = Job(id="j_" + "a" * 26, site="yard", device="cam-1", photo_id="p1", blob_name="yard/cam-1/p1.jpg",
          blob_etag='"e1"', received_at=datetime(2026, 11, 22, 8, 0, tzinfo=UTC))  # fmt: skip


def row(**changes: Any) -> TableEntity:
    """The job's row as Table storage hands it back, with `changes` a newer release made to it."""
    entity = TableEntity({**to_entity(JOB), **changes})
    entity._metadata = {"etag": 'W/"1"', "timestamp": JOB.received_at}
    return entity


def test_a_property_this_release_does_not_declare_is_ignored():
    job = from_entity(row(priority="high", Timestamp="2026-11-22T08:00:00Z"))
    assert job == from_entity(row())
    assert (job.id, job.state, job.etag) == (JOB.id, JobState.RECEIVED, 'W/"1"')


def test_properties_that_would_clash_with_the_keys_are_ignored_too():
    assert from_entity(row(id="j_other", etag="x")).id == JOB.id


@pytest.mark.parametrize("state", ["CANCELLED", "received", ""])
def test_a_state_this_release_does_not_know_is_a_permanent_error_of_its_own(state):
    with pytest.raises(UnknownJobState) as raised:
        from_entity(row(state=state))
    assert isinstance(raised.value, PermanentError) and raised.value.reason == "unknown_job_state"
    assert JOB.id in str(raised.value)
    status, doc = problems.from_error(raised.value)
    assert (status, doc["reason"]) == (422, "unknown_job_state")
