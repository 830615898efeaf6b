"""Feedback through the status API into Azurite's Table service, which caps a string property at 64 KiB as
Azure does: the largest bodies the API takes are kept whole, the same feedback is kept once however many
send it at once, and a job keeps at most MAX_PER_JOB entries even when the last places are raced for."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient

from shared.adapters.azure_feedback_store import from_feedback_entity
from shared.adapters.azure_job_store import TableJobStore
from shared.adapters.azure_photo_store import BlobPhotoStore
from shared.jobs.api import JobsApi
from shared.jobs.feedback import MAX_PER_JOB
from shared.jobs.models import Job
from tests.unit.jobs.test_feedback_once import detect_job, largest_bodies, post

pytestmark = pytest.mark.integration


@pytest.fixture
def tables(storage_connection: str) -> TableServiceClient:
    return TableServiceClient.from_connection_string(storage_connection)


@pytest.fixture
def store(tables: TableServiceClient, unique: str) -> TableJobStore:
    return TableJobStore(tables, prefix=f"t{unique}")


@pytest.fixture
def api(store: TableJobStore, storage_connection: str) -> JobsApi:
    blobs = BlobServiceClient.from_connection_string(storage_connection)
    return JobsApi(store, BlobPhotoStore(blobs, account_key=blobs.credential.account_key, https_only=False),
                   retry=_not_asked)  # fmt: skip


def _not_asked(job: Job) -> Job:
    raise AssertionError("no retry here")


def rows(tables: TableServiceClient, unique: str, job: Job) -> list[Any]:
    table = tables.get_table_client(f"t{unique}jobfeedback")
    return list(table.query_entities("PartitionKey eq @job", parameters={"job": job.id}))


def at_once(count: int, send: Any) -> list[Any]:
    """`send(n)` from `count` threads released together; their answers in thread order."""
    answers: list[Any] = [None] * count
    start = threading.Barrier(count)

    def run(n: int) -> None:
        start.wait()
        answers[n] = send(n)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


@pytest.mark.parametrize("kind", sorted(largest_bodies()))
def test_the_largest_bodies_the_api_takes_are_stored_whole(api, store, tables, unique, kind):
    job = detect_job(store)
    reply = post(api, job, largest_bodies()[kind])
    assert reply.status == 201, reply.body
    [row] = rows(tables, unique, job)
    assert from_feedback_entity(row) == {"boxes": reply.body["boxes"], "note": reply.body["note"]}
    assert row["feedback_id"] == reply.body["id"] and row["RowKey"] == "000"


def test_the_same_feedback_sent_at_once_is_kept_once(api, store, tables, unique):
    job = detect_job(store)
    answers = at_once(4, lambda n: post(api, job, {"note": "the valve is a gauge"}))
    assert [a.status for a in answers] == [201] * 4 and len({a.body["id"] for a in answers}) == 1
    assert len(rows(tables, unique, job)) == 1


def test_the_last_places_raced_for_keep_exactly_max_per_job(api, store, tables, unique):
    job = detect_job(store)
    for n in range(MAX_PER_JOB - 2):
        assert post(api, job, {"note": f"look {n}"}).status == 201
    answers = at_once(4, lambda n: post(api, job, {"note": f"late {n}"}))
    assert sorted((a.status, (a.body or {}).get("reason")) for a in answers) == [
        (201, None), (201, None), (422, "feedback_limit"), (422, "feedback_limit")]  # fmt: skip
    kept = rows(tables, unique, job)
    assert [row["RowKey"] for row in kept] == [f"{n:03d}" for n in range(MAX_PER_JOB)]
    assert len({row["feedback_id"] for row in kept}) == MAX_PER_JOB
