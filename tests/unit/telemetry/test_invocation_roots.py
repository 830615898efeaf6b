"""A function's photo span without a traceparent to follow starts a new trace, linked to the invocation that ran
it: an Event Grid or queue invocation belongs to no photo. The invocations are the local Functions host's
(`emulators/functions_host/tracing.py`), the pipeline is the in-memory one, under the real SDK
(tests.unit.telemetry.recording)."""

from __future__ import annotations

import pytest

from tests.unit.telemetry.recording import run

HOST = """
from dataclasses import replace
import json as _j
from emulators.functions_host.tracing import InvocationTracing
from tests.unit.jobs.test_pipeline import World

# Attached: the worker's way (the invocation's context, from its traceparent, current in the worker thread).
# Not attached: the function runs inside the host's own recording span, as an in-process host could.
host = InvocationTracing({"telemetryMode": "OpenTelemetry"}, {"PYTHON_ENABLE_OPENTELEMETRY": "%s"})
world = World()


def invoke(name, call):
    with host.invocation(name, "inv-" + name) as traceparent:
        return host.in_worker(traceparent, call)()
"""

FUNCTIONS = (
    HOST
    + """
job = invoke("on_photo_uploaded", lambda: world.ingestion.ingest(world.upload(1)))  # no traceparent on the blob
world.store.update(replace(world.store.get(job.id), traceparent=None))  # as a job recorded before traces
invoke("on_task_completed", lambda: world.completion.handle(world.finish_task(job.id)))
print(json.dumps(finished()))
"""
)


@pytest.mark.parametrize("worker_attaches", ["true", "false"])
def test_ingest_and_complete_without_a_traceparent_start_new_traces_linked_to_their_invocations(worker_attaches):
    spans = run(FUNCTIONS % worker_attaches)
    by_name = {s["name"]: s for s in spans}
    invoked_by = {"ingest": "Functions.on_photo_uploaded", "complete": "Functions.on_task_completed"}
    for photo_span, invocation in invoked_by.items():
        span, host = by_name[photo_span], by_name[invocation]
        assert span["parent"] is None, photo_span  # the root of a trace of its own ...
        assert span["trace_id"] != host["trace_id"], photo_span
        assert span["links"] == [host["span_id"]], photo_span  # ... that names the invocation that ran it
    for child in ("validate", "submit"):  # the work inside ingest stays in the photo's trace
        assert by_name[child]["parent"] == by_name["ingest"]["span_id"], child


RETRY = (
    HOST
    + """
job = invoke("on_photo_uploaded", lambda: world.ingestion.ingest(world.upload(1)))
failure = {"job_id": job.id, "task_id": job.id, "attempt": 1, "outcome": "failed",
           "error": {"code": "bad_input", "message": "x"}, **world.task_token(job.id)}
invoke("on_task_completed", lambda: world.completion.handle(_j.dumps(failure).encode()))
_spans.clear()
again = invoke("retry_job", lambda: world.ingestion.retry(world.store.get(job.id)))
print(json.dumps({"spans": finished(), "job_traceparent": world.store.get(again.id).traceparent}))
"""
)


@pytest.mark.parametrize("worker_attaches", ["true", "false"])
def test_a_retried_jobs_submit_is_in_the_trace_its_job_records(worker_attaches):
    """POST /jobs/{id}/retry runs validate and submit with no job span around them: submit joins the trace the
    new job records (where its task's and its completion's spans go), never a trace of its own."""
    found = run(RETRY % worker_attaches)
    by_name = {s["name"]: s for s in found["spans"]}
    recorded = found["job_traceparent"].split("-")[1]
    assert by_name["submit"]["trace_id"] == by_name["validate"]["trace_id"] == recorded
