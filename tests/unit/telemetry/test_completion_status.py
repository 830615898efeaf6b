"""The `complete` span's status says whether the completion was handled, not how the job ended. It is a consumer
span, so Azure Monitor's exporter writes it as a request whose `success` is the span's status, and the
function-errors alert counts the failed ones (infra/modules/alerts.bicep): a job that ends FAILED is a message
handled, a raising handler is not. The pipeline is the in-memory one, under the real SDK and exporter
(tests.unit.telemetry.recording)."""

from __future__ import annotations

from tests.unit.telemetry.recording import run

COMPLETIONS = """
import json as _j
from azure.monitor.opentelemetry.exporter.export.trace._exporter import _convert_span_to_envelope
from tests.unit.jobs.test_pipeline import World

world = World()
failed_job = world.ingestion.ingest(world.upload(1))
failure = {"job_id": failed_job.id, "task_id": failed_job.id, "outcome": "failed",
           "error": {"code": "bad_input", "message": "cannot decode"}, **world.task_token(failed_job.id)}
world.completion.handle(_j.dumps(failure).encode())

unrecorded = world.ingestion.ingest(world.upload(2))


def refused(*args, **kwargs):
    raise RuntimeError("the job table refused the write")


world.finisher.finish = refused
try:
    world.completion.handle(world.finish_task(unrecorded.id))
except RuntimeError:
    pass
else:
    raise SystemExit("the completion should have raised")

spans = {s["attributes"]["sitelens.job_id"]: s for s in finished() if s["name"] == "complete"}
requests = {s.attributes["sitelens.job_id"]: _convert_span_to_envelope(s).data
            for s in _spans.get_finished_spans() if s.name == "complete"}
print(json.dumps([
    {"span": spans[job], "type": requests[job].base_type, "success": requests[job].base_data.success}
    for job in (failed_job.id, unrecorded.id)
]))
"""


def test_a_failed_job_is_a_completion_handled_and_a_raising_handler_is_a_failed_request() -> None:
    failed_job, raised = run(COMPLETIONS)
    assert failed_job["span"]["status"] != "error"  # the job failed; handling its completion did not
    assert failed_job["span"]["attributes"]["sitelens.state"] == "FAILED"
    assert failed_job["span"]["attributes"]["sitelens.reason"] == "bad_input"
    assert (failed_job["type"], failed_job["success"]) == ("RequestData", True)
    assert raised["span"]["status"] == "error"  # the handler raised: the alert's to count
    assert (raised["type"], raised["success"]) == ("RequestData", False)
