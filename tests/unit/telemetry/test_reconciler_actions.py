"""`sitelens.reconciler.actions` counts one documented kind per job a sweep acts on, and the job's reconcile span
names the same kind: the in-memory pipeline under the real SDK (tests.unit.telemetry.recording)."""

from __future__ import annotations

import textwrap

import pytest

from tests.unit.telemetry.recording import documented_reconciler_kinds, run

# Each scenario leaves one job for one sweep to act on; `acted` is the job.
SCENARIOS = {
    "task_missing_from_batch": """
        acted = world.ingestion.ingest(world.upload(1))
        world.batch.tasks.clear()
        world.clock.advance(16 * 60)
    """,
    "open_past_the_bound": """
        acted = world.ingestion.ingest(world.upload(1))
        world.batch.views[acted.id] = TaskView(TaskState.ACTIVE)
        world.clock.advance(25 * 3600)
    """,
    "received_job_submitted_by_the_sweep": """
        world.batch.down = True
        name = world.upload(1)
        try:
            world.ingestion.ingest(name)
        except TransientError:
            pass
        world.batch.down = False
        acted = world.store.get(ids.job_id_for(name))
        assert acted.state is JobState.RECEIVED
        world.clock.advance(16 * 60)
    """,
    "follower_of_a_failed_owner": """
        data = photo(7)
        owner = world.ingestion.ingest(world.upload(1, data))
        acted = world.ingestion.ingest(world.upload(2, data))
        failure = {"job_id": owner.id, "task_id": owner.id, "attempt": 1, "outcome": "failed",
                   "error": {"code": "bad_input", "message": "unreadable"}, **world.task_token(owner.id)}
        world.completion.handle(json.dumps(failure).encode())
        world.clock.advance(1)
    """,
}
SWEEP = """
import json
from shared.errors import TransientError
from shared.jobs import ids
from shared.jobs.models import JobState
from shared.jobs.ports import TaskState, TaskView
from tests.unit.jobs.test_pipeline import World, photo

world = World()
{scenario}
before = sum(value for _, value in points("sitelens.reconciler.actions"))
_spans.clear()
world.reconciler.run()
counted = [(attrs["kind"], value) for attrs, value in points("sitelens.reconciler.actions")]
spans = [s for s in finished() if s["name"].startswith("reconcile.") and s["attributes"]["sitelens.job_id"] == acted.id]
state = world.store.get(acted.id).state.value
print(json.dumps({{"before": before, "counted": counted, "spans": spans, "state": state}}))
"""


@pytest.mark.parametrize(
    ("scenario", "kind", "state"),
    [
        ("task_missing_from_batch", "resubmitted", "QUEUED"),
        ("open_past_the_bound", "timed_out", "FAILED"),
        ("received_job_submitted_by_the_sweep", "queued", "QUEUED"),
        ("follower_of_a_failed_owner", "resubmitted", "QUEUED"),
    ],
)
def test_a_sweep_counts_one_documented_kind_per_job_and_its_span_names_it(scenario: str, kind: str, state: str):
    got = run(SWEEP.format(scenario=textwrap.dedent(SCENARIOS[scenario])))
    assert got["state"] == state
    assert got["before"] == 0
    assert got["counted"] == [[kind, 1]]  # one count for the job, of one kind
    assert kind in documented_reconciler_kinds()
    [span] = got["spans"]
    assert span["attributes"]["sitelens.action"] == kind
