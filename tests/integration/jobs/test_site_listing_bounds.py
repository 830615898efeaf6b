"""A filtered listing of a site's jobs reads a bounded stretch of the site's history per page (Azurite).

`GET /jobs?site=S&state=FAILED` reads each index entry's job to test its state. On a site with a long history
and few matching jobs, one page must still stop after SCANNED_PER_PAGE reads and hand back a continuation,
even with no job on it, rather than read the whole history in one request.
"""

import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient

from emulators.azurite import Azurite
from shared.adapters.azure_job_store import SCANNED_PER_PAGE, TableJobStore
from shared.adapters.azure_photo_store import BlobPhotoStore
from shared.jobs import ids
from shared.jobs.api import JobsApi
from shared.jobs.models import Job, JobState

pytestmark = pytest.mark.integration
T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
HISTORY = SCANNED_PER_PAGE + 40  # more index entries than one page may read
FAILED_AT = (SCANNED_PER_PAGE + 15, HISTORY - 1)  # the only matches, all past the first page's reach
SINCE = T0 + timedelta(seconds=10)


@dataclass
class Seeded:
    store: TableJobStore
    api: JobsApi
    failed: list[str]
    reads: list[str]  # the job ids the store read by point read, in order


@pytest.fixture(scope="module")
def seeded(azurite: Azurite) -> Seeded:
    tables = TableServiceClient.from_connection_string(azurite.connection_string)
    store = TableJobStore(tables, prefix=f"t{uuid.uuid4().hex[:8]}")
    blobs = BlobServiceClient.from_connection_string(azurite.connection_string)
    photos = BlobPhotoStore(blobs, account_key=blobs.credential.account_key, https_only=False)

    def job(i: int) -> Job:
        made = Job(ids.job_id_for(f"h{i}"), "busy", "dev1", f"h{i}", f"h{i}", '"e1"', T0 + timedelta(seconds=i))
        return replace(made, state=JobState.FAILED, reason="task_failed") if i in FAILED_AT else made

    with ThreadPoolExecutor(8) as pool:  # the real create path, concurrently: seeding is not what is measured
        list(pool.map(lambda i: store.create(job(i)), range(HISTORY)))
    reads: list[str] = []
    point_read: Callable[..., Any] = store._jobs.get_entity

    def counted(partition_key: str, row_key: str, **kwargs: Any) -> Any:
        reads.append(partition_key)
        return point_read(partition_key, row_key, **kwargs)

    store._jobs.get_entity = counted  # type: ignore[method-assign]
    return Seeded(store, JobsApi(store, photos, retry=lambda j: j), [job(i).id for i in FAILED_AT], reads)


def follow(seeded: Seeded, query: dict[str, str]) -> list[dict[str, Any]]:
    """Every page of `GET /jobs` for the query, each with the point reads it made, until continuation is null."""
    pages = []
    while True:
        seeded.reads.clear()
        reply = seeded.api.handle("list", {}, query, {}, b"")
        assert reply.status == 200 and reply.body is not None
        pages.append({**reply.body, "reads": len(seeded.reads)})
        if reply.body["continuation"] is None:
            return pages
        query = {**query, "continuation": reply.body["continuation"]}


def test_a_page_with_no_match_in_reach_stops_after_the_bound_with_a_continuation(seeded):
    pages = follow(seeded, {"site": "busy", "state": "FAILED", "limit": "50"})
    first = pages[0]
    assert first["reads"] <= SCANNED_PER_PAGE
    assert first["jobs"] == [] and first["continuation"] is not None
    assert all(page["reads"] <= SCANNED_PER_PAGE for page in pages)
    assert [job["id"] for page in pages for job in page["jobs"]] == seeded.failed  # each exactly once, in order


def test_since_with_a_state_is_bounded_the_same_way(seeded):
    query = {"site": "busy", "state": "FAILED", "since": SINCE.isoformat(), "limit": "50"}
    pages = follow(seeded, query)
    assert all(page["reads"] <= SCANNED_PER_PAGE for page in pages)
    assert pages[0]["jobs"] == [] and pages[0]["continuation"] is not None
    assert [job["id"] for page in pages for job in page["jobs"]] == seeded.failed


def test_a_continuation_never_reaches_back_before_since(seeded):
    early = seeded.api.handle("list", {}, {"site": "busy", "limit": "5"}, {}, b"").body  # ends before SINCE
    query = {"site": "busy", "since": SINCE.isoformat(), "limit": "3", "continuation": early["continuation"]}
    page = seeded.api.handle("list", {}, query, {}, b"").body
    assert [job["photo_id"] for job in page["jobs"]] == ["h10", "h11", "h12"]
