"""A result document or completion message with a number past what Python's float or int holds, or nested past
its recursion limit, is malformed like any other: the result fails the job `bad_result` (a later version's
becomes `unknown`), the message is refused `bad_message`; neither escapes as an unexpected error."""

from __future__ import annotations

import json

import pytest

from shared.errors import InvalidInput
from shared.jobs import ids, result_kinds
from shared.jobs.completion import CompletionMessage
from shared.jobs.models import JobState
from shared.jobs.ports import TaskState, TaskView
from tests.unit.jobs.test_pipeline import World
from tests.unit.jobs.test_result_versions import finish_raw

HUGE = b"1" + b"0" * 400  # a JSON integer no float holds
DEEP = 5000  # nesting past Python's default recursion limit (1000)
BOX = b'{"label": "a", "class_id": %s, "score": 1, "box": %s}'

MALFORMED_RESULTS = {
    "a classify score no float holds": b'{"schema": "sitelens.classify.result/1", "result": {"labels": '
    b'[{"label": "a", "score": ' + HUGE + b"}]}}",
    "a detect class_id of Infinity": b'{"schema": "sitelens.detect.result/1", "result": {"boxes": ['
    + BOX % (b"Infinity", b"[0, 0, 1, 1]")
    + b"]}}",
    "a detect box coordinate no float holds": b'{"schema": "sitelens.detect.result/1", "result": {"boxes": ['
    + BOX % (b"1", b"[0, 0, 1, " + HUGE + b"]")
    + b"]}}",
    "OCR lines nested past the recursion limit": b'{"lines": ' + b"[" * DEEP + b"]" * DEEP + b"}",
    # JSON has no such numbers: kept, they would reach the status API and webhooks as output no strict client reads.
    "a classify score of NaN": b'{"schema": "sitelens.classify.result/1", "result": {"labels": '
    b'[{"label": "a", "score": NaN}]}}',
    "an OCR width of Infinity": b'{"lines": [], "width": Infinity, "height": 1}',
    "a detect score past a float": b'{"schema": "sitelens.detect.result/1", "result": {"boxes": ['
    + BOX.replace(b'"score": 1', b'"score": 1e999') % (b"1", b"[0, 0, 1, 1]")
    + b"]}}",
}


@pytest.fixture
def world() -> World:
    return World()


@pytest.mark.parametrize("data", MALFORMED_RESULTS.values(), ids=MALFORMED_RESULTS.keys())
def test_a_result_past_the_readers_numbers_or_depth_fails_the_job_as_bad_result(world, data):
    job = world.ingestion.ingest(world.upload(1))
    assert job is not None
    done = finish_raw(world, job.id, data)
    assert (done.state, done.reason) == (JobState.FAILED, "bad_result")
    assert world.store.get(job.id).state is JobState.FAILED  # recorded, not only returned


def test_the_reconciler_ends_such_a_job_bad_result_when_its_message_is_lost(world):
    job = world.ingestion.ingest(world.upload(1))
    assert job is not None
    world.photos.results[ids.result_path(job.id)] = MALFORMED_RESULTS["OCR lines nested past the recursion limit"]
    world.batch.views[job.id] = TaskView(TaskState.COMPLETED, exit_code=0)
    world.clock.advance(16 * 60)
    world.reconciler.run()
    done = world.store.get(job.id)
    assert (done.state, done.reason) == (JobState.FAILED, "bad_result")


def test_a_later_version_past_the_readers_numbers_is_summarised_as_unknown(world):
    job = world.ingestion.ingest(world.upload(1))
    assert job is not None
    data = b'{"schema": "sitelens.detect.result/2", "result": {"boxes": [' + BOX % (b"1", b"[0, 0, 1, " + HUGE + b"]")
    done = finish_raw(world, job.id, data + b"]}}")
    assert (done.state, done.summary) == (JobState.SUCCEEDED, {"kind": "unknown", "schema": "sitelens.detect.result/2"})


def test_reading_and_summarising_raise_only_read_errors_for_such_documents():
    for data in MALFORMED_RESULTS.values():
        with pytest.raises(result_kinds.READ_ERRORS):
            result_kinds.summarise(json.loads(data))


MALFORMED_MESSAGES = {
    "an attempt of Infinity": b'{"job_id": "%s", "outcome": "succeeded", "attempt": Infinity}',
    "an attempt of 1e400": b'{"job_id": "%s", "outcome": "succeeded", "attempt": 1e400}',
    "a body nested past the recursion limit": b'{"job_id": "%s", "outcome": "succeeded", "error": '
    + b"[" * DEEP
    + b"]" * DEEP
    + b"}",
}


@pytest.mark.parametrize("body", MALFORMED_MESSAGES.values(), ids=MALFORMED_MESSAGES.keys())
def test_such_a_completion_message_is_refused_as_bad_message_and_changes_nothing(world, body):
    job = world.ingestion.ingest(world.upload(1))
    assert job is not None
    message = body % job.id.encode()
    with pytest.raises(InvalidInput) as caught:
        CompletionMessage.parse(message)
    assert caught.value.reason == "bad_message"
    with pytest.raises(InvalidInput, match="malformed"):
        world.completion.handle(message)
    assert world.store.get(job.id).state is JobState.QUEUED


NOT_SHOWN = {
    "a schema this release does not read": b'{"schema": "sitelens.depth.result/1", "result": {"min_depth": NaN}}',
    "an OCR line past the preview": b'{"lines": ['
    + b", ".join(b'{"text": "L%d", "score": %s}' % (n, b"NaN" if n == 21 else b"0.9") for n in range(1, 22))
    + b"]}",
}


@pytest.mark.parametrize("data", NOT_SHOWN.values(), ids=NOT_SHOWN.keys())
def test_a_number_json_has_not_where_the_summary_does_not_show_it_fails_nothing(world, data):
    job = world.ingestion.ingest(world.upload(1))
    assert job is not None
    done = finish_raw(world, job.id, data)
    assert done.state is JobState.SUCCEEDED
    json.dumps(done.summary, allow_nan=False)  # what the API and webhooks serve
