"""Feedback is kept once and at most MAX_PER_JOB times per job; every body the API takes fits one entity."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.adapters.azure_feedback_store import from_feedback_entity, to_feedback_entity
from shared.jobs import feedback, ids
from shared.jobs.api import MAX_FEEDBACK_BODY, JobsApi
from shared.jobs.feedback import MAX_BOXES, MAX_PER_JOB
from shared.jobs.models import Job, JobState
from shared.jobs.ports import JobStore
from tests.unit.jobs.test_pipeline import World

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
WIDTH, HEIGHT = 20_000, 2_500  # the largest photo a job can have: 20,000 px a side, 50 MP
STRING_UNITS = 32_768  # UTF-16 code units in one Table string property (64 KiB)
ENTITY_BYTES, ENTITY_PROPERTIES = 1024 * 1024, 255


def detect_job(store: JobStore, name: str = "north-yard/cam-1/2026/11/22/IMG_1.jpg") -> Job:
    """A SUCCEEDED detect job of the largest photo, as the store keeps it."""
    summary = {"kind": "detect", "boxes": 0, "best": [], "width": WIDTH, "height": HEIGHT}
    job = Job(ids.job_id_for(name), "north-yard", "cam-1", "IMG_1", name, '"0x1"', T0, state=JobState.SUCCEEDED,
              summary=summary)  # fmt: skip
    store.create(job)
    return store.get(job.id)


def largest_bodies() -> dict[str, bytes]:
    """Bodies a detect job takes, each as near the API's 64 KiB as the most boxes allow, and each the worst of
    one kind of character once stored: plain ASCII, characters JSON escapes (each `"` stored as two), and
    ones outside the BMP (two UTF-16 units each). Coordinates are written short, so they grow as they are
    stored (`2e4` becomes 20000.0)."""
    labels = {"ascii": "v" * 200, "escaped": '"\\' * 100, "astral": "\U0001f600é" * 100}
    note = json.dumps("n" * feedback.TEXT_FIELDS["note"])
    bodies = {}
    for kind, label in labels.items():
        item = '{"label":%s,"box":[0,0,2e4,2e3]}' % json.dumps(label, ensure_ascii=False)  # noqa: UP031
        count = min(MAX_BOXES, (MAX_FEEDBACK_BODY - len(note) - 30) // (len(item.encode()) + 1))
        bodies[kind] = ('{"note":%s,"boxes":[%s]}' % (note, ",".join([item] * count))).encode()  # noqa: UP031
    return bodies


def post(api: JobsApi, job: Job, body: object) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return api.handle("feedback", {"id": job.id}, {}, {}, raw)


@pytest.fixture
def world() -> World:
    return World()


def test_the_same_feedback_sent_again_is_kept_once_under_the_same_id(world, api):
    job = detect_job(world.store)
    first = post(api, job, {"boxes": [{"label": "valve", "box": [1, 2, 30, 40]}], "note": "moved"})
    respelled = b'{"note": "moved", "text": null, "boxes": [{"box": [1.0, 2, 3e1, 40], "label": "valve"}]}'
    again = post(api, job, respelled)
    assert (first.status, again.status) == (201, 201) and again.body["id"] == first.body["id"]
    assert len(world.store.feedback) == 1
    other = post(api, job, {"boxes": [{"label": "valve", "box": [1, 2, 30, 41]}], "note": "moved"})
    assert other.status == 201 and other.body["id"] != first.body["id"] and len(world.store.feedback) == 2


def test_a_job_keeps_at_most_max_per_job_entries_and_answers_a_repeat_past_it(world, api):
    job = detect_job(world.store)
    ids_kept = [post(api, job, {"note": f"look {n}"}).body["id"] for n in range(MAX_PER_JOB)]
    assert len(set(ids_kept)) == MAX_PER_JOB
    refused = post(api, job, {"note": "one more"})
    assert (refused.status, refused.body["reason"]) == (422, "feedback_limit"), refused.body
    repeat = post(api, job, {"note": "look 7"})
    assert (repeat.status, repeat.body["id"]) == (201, ids_kept[7]) and len(world.store.feedback) == MAX_PER_JOB
    other = detect_job(world.store, "north-yard/cam-1/2026/11/22/IMG_2.jpg")
    assert post(api, other, {"note": "one more"}).status == 201  # the cap is per job


@pytest.mark.parametrize("kind", sorted(largest_bodies()))
def test_every_body_the_api_takes_fits_one_entity_and_reads_back_whole(world, api, kind):
    body = largest_bodies()[kind]
    assert len(body) <= MAX_FEEDBACK_BODY
    reply = post(api, detect_job(world.store), body)
    assert reply.status == 201, reply.body
    kept = {k: reply.body[k] for k in ("boxes", "note")}
    entity = to_feedback_entity(reply.body["job_id"], MAX_PER_JOB - 1, kept, T0)
    units = {name: len(value.encode("utf-16-le")) // 2 for name, value in entity.items() if isinstance(value, str)}
    assert max(units.values()) <= STRING_UNITS, units
    assert sum(2 * n + 2 * len(name) for name, n in units.items()) < ENTITY_BYTES and len(entity) < ENTITY_PROPERTIES
    assert from_feedback_entity(entity) == kept
    assert sum(n for name, n in units.items() if name.startswith("boxes")) > STRING_UNITS  # more than one holds
