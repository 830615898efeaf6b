"""Erasing a photo's image (shared/jobs/erasure.py) over the in-memory ports: which jobs hold it, the refusal while
the pipeline still works on one, what goes and in what order, and a second run finishing a crashed one."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from shared.errors import Conflict, NotFound, TransientError
from shared.jobs import erasure, ids
from shared.jobs.erasure import Erasure
from shared.jobs.models import Job, JobState
from shared.uploads.ports import Reservation
from shared.webhooks.models import Delivery, DeliveryState, Event
from tests.unit.api.fakes import MemoryWebhookStore
from tests.unit.jobs.fakes import MemoryJobStore, MemoryPhotos
from tests.unit.uploads.fakes import MemoryReservations

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
SITE, OTHER_SITE, SHA, OTHER_SHA = "north-yard", "south-yard", "a" * 64, "b" * 64
MODEL = "ocr/ppocrv4"


class Parts:
    def __init__(self) -> None:
        self.store, self.photos = MemoryJobStore(), MemoryPhotos()
        self.hooks, self.reservations = MemoryWebhookStore(), MemoryReservations()
        self.erasure = Erasure(self.store, self.photos, self.hooks, self.reservations)

    def job(self, photo: str, *, site: str = SITE, sha: str | None = SHA, state: JobState = JobState.SUCCEEDED,
            **fields: object) -> Job:  # fmt: skip
        """A job as the pipeline leaves it, with everything it keeps: its photo, derived input, result and overlay,
        event and delivery, feedback and upload reservation."""
        name = f"{site}/cam-1/2026/11/22/{photo}.jpg"
        job_id = ids.job_id_for(name, str(fields.get("retry_of")) if fields.get("retry_of") else None)
        done = state.terminal
        job = Job(job_id, site, "cam-1", photo, name, '"0x1"', T0, state=state, content_sha256=sha, model=MODEL,
                  event_published=done, event_id=ids.event_id(job_id, state.value) if done else None,
                  **fields)  # type: ignore[arg-type]  # fmt: skip
        self.store._stamp(job)
        self.photos.add(name, b"jpeg " + photo.encode())
        self.photos.derived[job_id] = b"derived"
        self.photos.results[ids.result_path(job_id)] = b"{}"
        self.photos.results[ids.overlay_path(job_id)] = b"overlay"
        if job.event_id:
            self.hooks.add_event(Event(job.event_id, job_id, site, "job.succeeded", b"{}", T0))
            self.hooks.add_delivery(Delivery(job.event_id, "sub_1", DeliveryState.DELIVERED, T0, created_at=T0))
        self.store.feedback.append((job_id, {"text": "PUMP 1"}))
        self.reservations.reserve(Reservation(site, "cam-1", photo, "jpg", name, T0))
        if sha is not None:
            self.store.claim_content(site, ids.content_key(sha, MODEL), job_id)
        return self.store.get(job_id)


@pytest.fixture
def parts() -> Parts:
    return Parts()


def photo_family(parts: Parts) -> dict[str, Job]:
    """An owner; a follower listed in its claim; a duplicate that followed it after it succeeded (never listed);
    a failed job of the same bytes retried; and two jobs that do not hold the image: other bytes of the site,
    the same bytes at another site."""
    owner = parts.job("p1")
    listed = parts.job("p2", cached_from=owner.id)
    parts.store.add_follower(SITE, ids.content_key(SHA, MODEL), listed.id)
    late = parts.job("p3", cached_from=owner.id)
    failed = parts.job("p4", state=JobState.FAILED)
    retry = parts.job("p4", sha=None, retry_of=failed.id)
    failed = parts.store.update(replace(failed, retried_by=retry.id))
    unrelated = parts.job("p5", sha=OTHER_SHA)
    elsewhere = parts.job("p6", site=OTHER_SITE)
    return {"owner": owner, "listed": listed, "late": late, "failed": failed, "retry": retry,
            "unrelated": unrelated, "elsewhere": elsewhere}  # fmt: skip


def test_every_job_of_the_site_holding_the_image_is_collected_from_any_of_them(parts):
    family = photo_family(parts)
    holding = {family[name].id for name in ("owner", "listed", "late", "failed", "retry")}
    for asked in ("late", "retry", "owner"):  # the retry has no bytes recorded: found through its retry_of
        plan = parts.erasure.plan(family[asked].id)
        assert plan.jobs[0].id == family[asked].id
        assert {job.id for job in plan.jobs} == holding


def test_an_unknown_job_is_not_found(parts):
    with pytest.raises(NotFound):
        parts.erasure.plan("j_" + "c" * 26)


@pytest.mark.parametrize("unsettled", [{"state": JobState.RUNNING, "event_published": False},
                                       {"event_published": False}])  # fmt: skip
def test_one_job_the_pipeline_still_works_on_refuses_the_whole_erasure_and_nothing_goes(parts, unsettled):
    family = photo_family(parts)
    parts.store.update(replace(parts.store.get(family["late"].id), **unsettled))
    plan = parts.erasure.plan(family["owner"].id)
    assert [job.id for job in plan.unsettled] == [family["late"].id]

    def everything() -> list[object]:
        return [dict(held) for held in (parts.store.jobs, parts.store.claims, parts.photos.photos,
                parts.photos.derived, parts.photos.results, parts.hooks.events, parts.hooks.deliveries,
                parts.reservations.rows)] + [list(parts.store.feedback)]  # fmt: skip

    before = everything()
    with pytest.raises(Conflict):
        parts.erasure.erase(plan)
    assert everything() == before


def test_everything_the_jobs_hold_goes_and_the_others_stay(parts):
    family = photo_family(parts)
    erased = parts.erasure.erase(parts.erasure.plan(family["listed"].id))
    kept = {family["unrelated"].id, family["elsewhere"].id}
    assert set(parts.store.jobs) == kept
    assert set(parts.store.open) <= kept
    assert sorted(parts.photos.photos) == sorted(family[n].blob_name for n in ("unrelated", "elsewhere"))
    assert set(parts.photos.derived) == kept
    assert {path.split("/")[0] for path in parts.photos.results} == kept
    assert {event.job_id for event in parts.hooks.events.values()} == kept
    assert {event for event, _ in parts.hooks.deliveries} == {parts.store.get(j).event_id for j in kept}
    assert {job for job, _ in parts.store.feedback} == kept
    assert {photo for _, _, photo in parts.reservations.rows} == {"p5", "p6"}
    assert set(parts.store.claims) == {
        (SITE, ids.content_key(OTHER_SHA, MODEL)),
        (OTHER_SITE, ids.content_key(SHA, MODEL)),
    }
    assert parts.store.follow == {}
    # Four photos (the retry's is the failed job's), each job's input, result and overlay, an event and a delivery
    # per job, its feedback and reservation (the retry's names the failed job's photo too: released once), and the
    # claim of the bytes: its owner row and the listed follower's.
    assert erased == {erasure.JOBS: 5, erasure.PHOTOS: 4, erasure.JOB_BLOBS: 15, erasure.WEBHOOK_ROWS: 10,
                      erasure.FEEDBACK: 5, erasure.RESERVATIONS: 4, erasure.CLAIMS: 2}  # fmt: skip
    with pytest.raises(NotFound):
        parts.erasure.plan(family["listed"].id)


def test_the_job_asked_about_goes_last_and_each_other_before_the_one_it_was_found_from(parts, monkeypatch):
    family = photo_family(parts)
    gone: list[str] = []
    erase_job = parts.store.erase_job

    def recorded(job: Job) -> None:
        gone.append(job.id)
        erase_job(job)

    monkeypatch.setattr(parts.store, "erase_job", recorded)
    plan = parts.erasure.plan(family["retry"].id)  # retry → failed → (same bytes) owner, listed, late
    parts.erasure.erase(plan)
    assert gone == [job.id for job in reversed(plan.jobs)]
    assert gone[-1] == family["retry"].id and gone.index(family["failed"].id) == len(gone) - 2


def test_a_run_that_died_half_way_is_finished_by_the_next(parts, monkeypatch):
    family = photo_family(parts)
    erase_job, calls = parts.store.erase_job, []

    def dies_at_the_third(job: Job) -> None:
        calls.append(job.id)
        if len(calls) == 3:
            raise TransientError("storage unreachable")
        erase_job(job)

    monkeypatch.setattr(parts.store, "erase_job", dies_at_the_third)
    with pytest.raises(TransientError):
        parts.erasure.erase(parts.erasure.plan(family["owner"].id))
    assert family["owner"].id in parts.store.jobs  # the one asked about is still there to start from
    monkeypatch.setattr(parts.store, "erase_job", erase_job)
    again = parts.erasure.erase(parts.erasure.plan(family["owner"].id))
    assert again[erasure.JOBS] == 3 and again[erasure.PHOTOS] == 0  # the rest of the rows; the blobs went first
    assert set(parts.store.jobs) == {family["unrelated"].id, family["elsewhere"].id}
