"""Job rows a newer release wrote, read by this one on Azurite (a rollback, or old and new instances side by side).

A newer release may add a property to a job row or a state to the state machine. This release ignores the
property, and answers a job in an unknown state on its own (`unknown_job_state`): the site listing goes on
with the other jobs instead of failing the page, and so does the site's summary.
"""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from azure.data.tables import TableServiceClient, UpdateMode
from azure.storage.blob import BlobServiceClient

from emulators.azurite import Azurite
from shared.adapters.azure_job_store import JOBS, TableJobStore
from shared.adapters.azure_photo_store import BlobPhotoStore
from shared.jobs import ids, summary
from shared.jobs.api import JobsApi
from shared.jobs.models import Job, JobState

pytestmark = pytest.mark.integration
T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
SITE = "mixed"


@dataclass
class Rows:
    api: JobsApi
    store: TableJobStore
    ids: list[str]  # oldest first: [plain, with a newer property, in a newer state, plain]


@pytest.fixture(scope="module")
def rows(azurite: Azurite) -> Rows:
    tables = TableServiceClient.from_connection_string(azurite.connection_string)
    prefix = f"n{uuid.uuid4().hex[:8]}"
    store = TableJobStore(tables, prefix=prefix)
    blobs = BlobServiceClient.from_connection_string(azurite.connection_string)
    photos = BlobPhotoStore(blobs, account_key=blobs.credential.account_key, https_only=False)
    made = [Job(ids.job_id_for(f"n{i}"), SITE, "dev1", f"n{i}", f"n{i}", '"e1"', T0 + timedelta(seconds=i))
            for i in range(4)]  # fmt: skip
    for job in made:
        store.create(job)
    table = tables.get_table_client(prefix + JOBS)
    # What a newer release writes: one more property on one job, a state this release lacks on another.
    for job_id, change in ((made[1].id, {"priority": "high"}), (made[2].id, {"state": "CANCELLED"})):
        row = table.get_entity(job_id, "job")
        table.update_entity({**row, **change}, mode=UpdateMode.REPLACE)
    return Rows(JobsApi(store, photos, retry=lambda j: j), store, [j.id for j in made])


def test_the_site_listing_leaves_out_the_job_in_an_unknown_state_and_lists_the_others(rows):
    reply = rows.api.handle("list", {}, {"site": SITE}, {}, b"")
    assert reply.status == 200 and reply.body is not None
    assert [job["id"] for job in reply.body["jobs"]] == [rows.ids[0], rows.ids[1], rows.ids[3]]
    assert reply.body["continuation"] is None


def test_get_of_the_job_in_an_unknown_state_answers_a_problem_document(rows):
    reply = rows.api.handle("get", {"id": rows.ids[2]}, {}, {}, b"")
    assert (reply.status, reply.media_type) == (422, "application/problem+json")
    assert reply.body is not None and reply.body["reason"] == "unknown_job_state"
    assert reply.body["type"].endswith("reason-codes.md#unknown_job_state") and "CANCELLED" in reply.body["detail"]


def test_a_job_with_a_property_this_release_does_not_declare_reads_as_usual(rows):
    reply = rows.api.handle("get", {"id": rows.ids[1]}, {}, {}, b"")
    assert reply.status == 200 and reply.body is not None
    assert (reply.body["id"], reply.body["state"]) == (rows.ids[1], JobState.RECEIVED.value)
    assert "priority" not in reply.body


def test_a_busy_site_summary_leaves_out_the_job_in_an_unknown_state(rows, monkeypatch):
    monkeypatch.setattr(summary, "MAX_JOBS", 2)  # stands for a site with more jobs in the hour than the bound
    api = summary.SummaryApi(rows.store, lambda job: {}, lambda: T0 + timedelta(minutes=5))
    reply = api.handle(SITE)
    assert reply.status == 200 and reply.body is not None, reply.body
    assert reply.body["truncated"] is True
    assert [job["id"] for job in reply.body["latest"]] == [rows.ids[3], rows.ids[1], rows.ids[0]]
