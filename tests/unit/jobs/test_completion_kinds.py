"""Completion summarises each kind's result document: OCR's lines, the top labels, the box count and best boxes."""

from __future__ import annotations

import pytest

from shared.jobs.models import JobState
from shared.jobs.result_kinds import PREVIEW_BOXES, PREVIEW_LABELS
from tests.unit.jobs.kinds_support import classify_result, detect_result, finish_with, ocr_result
from tests.unit.jobs.test_pipeline import World


@pytest.fixture
def world() -> World:
    return World()


def test_an_ocr_result_keeps_the_fields_clients_read_and_names_its_kind(world):
    job = world.ingestion.ingest(world.upload(1))
    done = finish_with(world, job, ocr_result(job.id, lines=3))
    assert done.state is JobState.SUCCEEDED
    assert done.summary == {"kind": "ocr", "lines": 3, "text": ["LINE 0", "LINE 1", "LINE 2"], "width": 640,
                            "height": 480}  # fmt: skip


def test_a_result_without_a_schema_is_read_as_ocr(world):
    job = world.ingestion.ingest(world.upload(1))
    done = world.completion.handle(world.finish_task(job.id))  # an older node's document: no schema member
    assert done.summary["kind"] == "ocr" and done.summary["text"] == ["PUMP 1"]


def test_a_classify_result_is_summarised_as_its_top_labels_best_first(world):
    job = world.ingestion.ingest(world.upload(1))
    done = finish_with(world, job, classify_result(job.id, labels=7))
    assert done.state is JobState.SUCCEEDED
    assert done.summary["kind"] == "classify" and (done.summary["width"], done.summary["height"]) == (640, 480)
    assert [x["label"] for x in done.summary["labels"]] == [f"class-{n}" for n in range(PREVIEW_LABELS)]
    assert done.summary["labels"][0] == {"label": "class-0", "score": 0.5}
    assert "lines" not in done.summary and "text" not in done.summary


def test_a_detect_result_is_summarised_as_its_box_count_and_best_boxes(world):
    job = world.ingestion.ingest(world.upload(1))
    done = finish_with(world, job, detect_result(job.id, boxes=12))
    assert done.state is JobState.SUCCEEDED
    assert done.summary["kind"] == "detect" and done.summary["boxes"] == 12
    assert len(done.summary["best"]) == PREVIEW_BOXES
    assert done.summary["best"][1] == {"label": "valve", "class_id": 1, "score": 0.9, "box": [10.0, 5.0, 50.5, 60.0]}


def test_a_detect_result_with_no_boxes_is_zero_boxes_not_a_failure(world):
    job = world.ingestion.ingest(world.upload(1))
    done = finish_with(world, job, detect_result(job.id, boxes=0))
    assert done.state is JobState.SUCCEEDED and (done.summary["boxes"], done.summary["best"]) == (0, [])


@pytest.mark.parametrize(
    "spoil",
    [
        lambda doc: doc["result"].update(boxes={"not": "a list"}),
        lambda doc: doc["result"]["boxes"][0].pop("label"),
        lambda doc: doc["result"]["boxes"][0].update(box=[1, 2, 3]),
    ],
)
def test_a_result_that_breaks_its_kinds_schema_fails_the_job_as_bad_result(world, spoil):
    job = world.ingestion.ingest(world.upload(1))
    result = detect_result(job.id, boxes=2)
    spoil(result)
    done = finish_with(world, job, result)
    assert (done.state, done.reason) == (JobState.FAILED, "bad_result")
