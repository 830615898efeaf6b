"""Results from a node a release ahead of the app: a later version of a known kind is read as that kind where it
can be, any other schema this release does not read succeeds with a minimal `unknown` summary, and only a
document that is not JSON or breaks a schema this release knows fails the job `bad_result`."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from shared.jobs import document, ids, result_kinds
from shared.jobs.models import Job, JobState
from tests.unit.jobs.kinds_support import classify_result, detect_result, finish_with, ocr_result
from tests.unit.jobs.test_document_kinds import JOB
from tests.unit.jobs.test_pipeline import World


@pytest.fixture
def world() -> World:
    return World()


def bumped(result: dict[str, Any], version: int) -> dict[str, Any]:
    return {**result, "schema": result["schema"].replace("/1", f"/{version}")}


@pytest.mark.parametrize("make", [ocr_result, classify_result, detect_result])
def test_a_later_version_of_a_known_kind_is_summarised_as_that_kind(make):
    current = make("j_1")
    assert result_kinds.summarise(bumped(current, 2)) == result_kinds.summarise(current)
    assert result_kinds.summarise(bumped(current, 17)) == result_kinds.summarise(current)


def test_a_later_version_with_members_this_release_does_not_know_reads_the_ones_it_does():
    later = bumped(ocr_result("j_1", lines=2), 2)
    later["result"] = {**later["result"], "language": "en", "blocks": [{"lines": [0, 1]}]}
    assert result_kinds.summarise(later)["text"] == ["LINE 0", "LINE 1"]


@pytest.mark.parametrize(
    ("schema", "result"),
    [
        ("sitelens.segment.result/1", {"width": 1, "height": 1, "masks": []}),  # a kind this release lacks
        ("sitelens.ocr.result/2", {"width": 1, "height": 1, "lines": {"now": "a map"}}),  # does not parse
        ("sitelens.ocr.result/2", {"width": 1, "height": 1, "blocks": []}),  # its list renamed: not 0 lines
        ("sitelens.detect.result/3", {"boxes": [{"box": [1, 2, 3]}]}),
        ("sitelens.ocr.result/0", {"lines": []}),  # not later than the one known
        ("something-else", {}),
    ],
)
def test_a_schema_this_release_cannot_read_succeeds_with_an_unknown_summary(world, schema, result):
    job = world.ingestion.ingest(world.upload(1))
    doc = {"schema": schema, "job_id": job.id if job else "", "model": {"name": "m", "version": "9"},
           "result": result}  # fmt: skip
    done = finish_with(world, job, doc)
    assert (done.state, done.reason) == (JobState.SUCCEEDED, None)
    assert done.summary == {"kind": "unknown", "schema": schema}
    assert done.result_path is not None and done.result_checksum is not None  # the result stays linked
    status = document.public(done, {"result": "http://127.0.0.1/r", "overlay": "http://127.0.0.1/o"})
    assert status["result"]["links"]["result"] == "http://127.0.0.1/r"
    assert not [f"{e.instance_path}: {e.message}" for e in JOB.iter_errors(status)]  # openapi.json's shape


def test_a_long_unknown_schema_is_kept_bounded():
    assert result_kinds.summarise({"schema": "x" * 5000}) == {"kind": "unknown", "schema": "x" * 200}


@pytest.mark.parametrize(
    "data",
    [
        b"not json",
        b"[1, 2]",  # JSON, not an object
        b'{"schema": 2, "result": {"lines": []}}',  # a schema that is not a string
        b'{"result": {"lines": {"not": "a list"}}}',  # no schema: an older node's OCR, broken
        b'{"schema": "sitelens.ocr.result/1", "result": {"lines": "PUMP"}}',  # the known version, broken
        b'{"schema": "sitelens.detect.result/1", "result": {"boxes": [{"box": [1, 2, 3]}]}}',
    ],
)
def test_a_malformed_result_still_fails_the_job_as_bad_result(world, data):
    job = world.ingestion.ingest(world.upload(1))
    assert job is not None
    done = finish_raw(world, job.id, data)
    assert (done.state, done.reason) == (JobState.FAILED, "bad_result")


def finish_raw(world: World, job_id: str, data: bytes) -> Job:
    """The node writes `data` as the job's result and its completion message arrives (finish_with, for bytes)."""
    world.photos.results[ids.result_path(job_id)] = data
    message = {
        "job_id": job_id,
        "task_id": job_id,
        "attempt": 1,
        "outcome": "succeeded",
        "result_path": ids.result_path(job_id),
        "checksum": "sha256:" + hashlib.sha256(data).hexdigest(),
        **world.task_token(job_id),
    }
    return world.completion.handle(json.dumps(message).encode())
