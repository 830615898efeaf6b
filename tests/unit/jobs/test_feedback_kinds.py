"""Feedback per kind: a label for a classify job, boxes for a detect job, and a member of the wrong kind refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest

from shared.jobs.api import JobsApi
from shared.jobs.feedback import MAX_BOXES
from shared.jobs.models import Job
from tests.unit.jobs.kinds_support import classify_result, detect_result, finish_with, ocr_result
from tests.unit.jobs.test_pipeline import World

BOX = {"label": "valve", "box": [10, 20, 110, 220.5]}


@pytest.fixture
def world() -> World:
    return World()


def job_of(world: World, make: Any) -> Job:
    job = world.ingestion.ingest(world.upload(1))
    return finish_with(world, job, make(job.id))


def post(api: JobsApi, job: Job, body: object) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return api.handle("feedback", {"id": job.id}, {}, {}, raw)


def test_a_classify_job_takes_a_corrected_label(world, api):
    job = job_of(world, classify_result)
    reply = post(api, job, {"label": "rotated-180", "note": "upside down"})
    assert reply.status == 201 and reply.body["label"] == "rotated-180"
    assert world.store.feedback == [(job.id, {"label": "rotated-180", "note": "upside down"})]


def test_a_detect_job_takes_corrected_boxes_in_photo_pixels(world, api):
    job = job_of(world, detect_result)
    reply = post(api, job, {"boxes": [BOX, {"label": "gauge", "box": [0, 0, 640, 480], "extra": 1}]})
    assert reply.status == 201
    kept = [{"label": "valve", "box": [10.0, 20.0, 110.0, 220.5]}, {"label": "gauge", "box": [0.0, 0.0, 640.0, 480.0]}]
    assert reply.body["boxes"] == kept and world.store.feedback == [(job.id, {"boxes": kept})]
    assert post(api, job, {"boxes": []}).status == 201  # "nothing there" is a correction too


@pytest.mark.parametrize(
    ("make", "body", "wrong"),
    [
        (classify_result, {"boxes": [BOX]}, "boxes"),
        (classify_result, {"text": "PUMP"}, "text"),
        (detect_result, {"label": "valve"}, "label"),
        (detect_result, {"text": "PUMP", "note": "n"}, "text"),
        (ocr_result, {"boxes": [BOX]}, "boxes"),
    ],
)
def test_a_member_the_jobs_kind_does_not_take_is_refused_and_nothing_is_kept(world, api, make, body, wrong):
    job = job_of(world, make)
    reply = post(api, job, body)
    assert (reply.status, reply.body["reason"]) == (400, "feedback_wrong_kind")
    assert wrong in reply.body["detail"] and not world.store.feedback


def test_a_job_without_a_result_yet_takes_what_an_ocr_job_takes(world, api):
    job = world.ingestion.ingest(world.upload(1))  # QUEUED: its kind is not known yet
    assert post(api, job, {"label": "nameplate", "text": "PUMP"}).status == 201
    assert post(api, job, {"boxes": [BOX]}).body["reason"] == "feedback_wrong_kind"


@pytest.mark.parametrize(
    "boxes",
    [
        {"label": "valve"},
        ["not an object"],
        [{"box": [0, 0, 1, 1]}],
        [{"label": "", "box": [0, 0, 1, 1]}],
        [{"label": "a\u0000b", "box": [0, 0, 1, 1]}],
        [{"label": "x" * 201, "box": [0, 0, 1, 1]}],
        [{"label": "valve", "box": [0, 0, 1]}],
        [{"label": "valve", "box": [0, 0, 1, "2"]}],
        [{"label": "valve", "box": [0, 0, True, 1]}],
        [{"label": "valve", "box": [5, 0, 5, 1]}],  # zero width
        [{"label": "valve", "box": [0, 9, 1, 2]}],  # upside down
        [{"label": "valve", "box": [-1, 0, 1, 1]}],
        [{"label": "valve", "box": [0, 0, 641, 10]}],  # past the 640 x 480 photo
        [{"label": "valve", "box": [0, 0, 10, 481]}],
        [{"label": "valve", "box": [0, 0, 10**400, 1]}],  # an integer no float holds
        [BOX] * (MAX_BOXES + 1),
    ],
)
def test_malformed_boxes_are_bad_feedback(world, api, boxes):
    job = job_of(world, detect_result)
    reply = post(api, job, {"boxes": boxes})
    assert (reply.status, reply.body["reason"]) == (400, "bad_feedback"), reply.body
    assert not world.store.feedback


def test_an_infinite_coordinate_is_bad_feedback(world, api):
    job = job_of(world, detect_result)
    reply = post(api, job, b'{"boxes": [{"label": "valve", "box": [0, 0, 1e400, 1]}]}')  # parses as inf
    assert (reply.status, reply.body["reason"]) == (400, "bad_feedback")


def test_feedback_for_an_unknown_job_is_404_after_the_body_is_checked(api):
    ghost = Job(id="j_" + "a" * 26, site="s", device="d", photo_id="p", blob_name="b", blob_etag="e",
                received_at=datetime(2026, 1, 1, tzinfo=UTC))  # fmt: skip
    assert post(api, ghost, {"boxes": [BOX]}).status == 404
    # openapi.json cannot say x1 < x2: a body it allows is 404 for an unknown job, never refused first.
    assert post(api, ghost, {"boxes": [{"label": "valve", "box": [0, 0, 0, 0]}]}).status == 404
    assert post(api, ghost, {"boxes": "x"}).body["reason"] == "bad_feedback"


FEEDBACK_SCHEMA = json.loads((Path(__file__).resolve().parents[3] / "openapi.json").read_text())["paths"][
    "/jobs/{id}/feedback"
]["post"]["requestBody"]["content"]["application/json"]["schema"]


@pytest.mark.parametrize(
    "body",
    [
        {"foo": 1},  # met `minProperties: 1` but was refused: the schema now says one of the four
        {},
        {"label": "x", "foo": 1},  # other members are ignored, as the description says
        {"note": ""},
        {"boxes": []},
        {"label": None},
        {"label": None, "note": "x"},  # null is the same as absent
        {"boxes": None, "note": "x"},
        {"boxes": [{"label": None, "box": [0, 0, 1, 1]}]},
        {"text": "a" * 4001},
        {"label": "\x01"},
        {"boxes": [{"label": "", "box": [0, 0, 1, 1]}]},
        {"boxes": [{"label": "v", "box": [-1, 0, 1, 1]}]},
        {"boxes": [{"label": "v", "box": [0, 0, 1]}]},
        {"boxes": [{"label": "v", "box": [0, 0, 1, 1], "score": 2}]},
    ],
)
def test_a_body_is_bad_feedback_exactly_when_openapi_json_refuses_it(api, body):
    """jsonschema-rs judges the body by the contract's schema; a job the store lacks answers 404 to the rest."""
    ghost = Job(id="j_" + "b" * 26, site="s", device="d", photo_id="p", blob_name="b", blob_etag="e",
                received_at=datetime(2026, 1, 1, tzinfo=UTC))  # fmt: skip
    allowed = jsonschema_rs.validator_for(FEEDBACK_SCHEMA).is_valid(body)
    reply = post(api, ghost, body)
    assert (reply.status, reply.body["reason"]) == ((404, "not_found") if allowed else (400, "bad_feedback"))
