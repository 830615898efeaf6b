"""POST /jobs/{id}/retry against real ingestion (Azurite, the local Batch service): asked twice at the same
moment, racing another write to the failed job, and for a job whose photo is gone."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from shared.errors import NotFound
from shared.jobs import ids
from shared.jobs.api import JobsApi
from shared.jobs.models import Job, JobState
from shared.jobs.ports import BlobInfo
from tests.integration.jobs.test_feedback_store import at_once
from tests.integration.jobs.test_photo_versions import (  # noqa: F401 - batch and rig are fixtures
    Rig,
    batch,
    commit,
    overwrite,
    photo,
    rig,
)

pytestmark = pytest.mark.integration
TRIALS = 3  # two retries at once lost one of them to a 409 in every trial before they were made safe


def failed_job(rig: Rig, photo_id: str, seed: int = 1) -> tuple[Job, str]:  # noqa: F811 - the rig fixture
    """A photo taken and queued, whose task then failed; and the URL its device can still write. Photos of other
    `seed`s have other bytes: a retry of one with the same bytes as a retry still queued would follow it."""
    name, url, hint = rig.grant(photo_id)
    commit(url, photo(seed))
    job = rig.ingestion.ingest(name)
    assert job is not None and job.id == hint and job.state is JobState.QUEUED
    done = rig.ingestion.finisher.finish(job, JobState.FAILED, reason="task_failed", detail="the task failed")
    assert done.state is JobState.FAILED
    return rig.store.get(job.id), url


def retry(rig: Rig, job: Job) -> Any:  # noqa: F811 - the rig fixture imported above
    return JobsApi(rig.store, rig.ingestion.photos, retry=rig.ingestion.retry).handle("retry", {"id": job.id}, {}, {},
                                                                                      b"")  # fmt: skip


def test_two_retries_at_the_same_moment_answer_the_same_new_job(rig):  # noqa: F811 - the fixture imported above
    for trial in range(TRIALS):
        job, _ = failed_job(rig, f"IMG{trial}", seed=trial + 1)
        answers = at_once(2, lambda _n, job=job: retry(rig, job))
        assert [a.status for a in answers] == [202, 202], [a.body for a in answers]
        again = answers[0].body["id"]
        assert answers[1].body["id"] == again and rig.store.get(job.id).retried_by == again
        assert rig.store.get(again).state is JobState.QUEUED and again in rig.tasks(rig.store.get(again))


def test_a_retry_racing_a_later_write_recorded_on_the_failed_job_runs_and_points_forward(rig, monkeypatch):  # noqa: F811
    job, url = failed_job(rig, "IMG1")
    photos = rig.ingestion.photos
    real_info: Callable[[str], BlobInfo] = photos.photo_info
    pending = [True]
    written: list[str] = []

    def info(blob_name: str) -> BlobInfo:  # after the API read the job, before the retry writes it
        if pending:
            pending.pop()
            written.append(overwrite(url, photo(2)))
            assert rig.ingestion.ingest(blob_name) is not None  # the later write's delivery counts it on the job
        return real_info(blob_name)

    monkeypatch.setattr(photos, "photo_info", info)
    reply = retry(rig, job)
    assert reply.status == 202, reply.body
    original = rig.store.get(job.id)
    assert original.later_writes == 1 and original.retried_by == reply.body["id"]
    assert rig.store.get(reply.body["id"]).state is JobState.QUEUED
    assert reply.body["photo_etag"] == written[0].strip('"')  # the retry runs the version written since


def test_a_retry_of_a_job_whose_photo_is_gone_is_refused_photo_missing(rig):  # noqa: F811
    job, _ = failed_job(rig, "IMG1")
    rig.blobs.get_blob_client("photos", job.blob_name).delete_blob()  # as the lifecycle rule deletes it
    reply = retry(rig, job)
    assert (reply.status, reply.body["reason"]) == (422, "photo_missing"), reply.body
    assert job.blob_name not in reply.body["detail"]
    with pytest.raises(NotFound):
        rig.store.get(ids.job_id_for(job.blob_name, job.id))
