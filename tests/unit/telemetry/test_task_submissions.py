"""`sitelens.tasks.submitted`, which the stuck-pool alert sums, counts each task Batch created, once, whoever
submitted it: a redelivery that finds the task already there (TaskExists) is not counted again, and the
reconciler's resubmission of a task missing from Batch is. The in-memory pipeline under the real SDK
(tests.unit.telemetry.recording)."""

from __future__ import annotations

from tests.unit.telemetry.recording import run

SCRIPT = """
from shared.errors import TransientError
from tests.unit.jobs.test_pipeline import World

world = World()
name = world.upload(1)
update = world.store.update


def dies_recording_the_submission(job):
    '''The write that records the Batch job fails, once: Batch holds the task, the job does not say so.'''
    if job.batch_job_id is not None:
        world.store.update = update
        raise TransientError("the instance is gone before the submission was recorded")
    return update(job)


def submitted():
    return [(attrs["model"], value) for attrs, value in points("sitelens.tasks.submitted")]


world.store.update = dies_recording_the_submission
try:
    world.ingestion.ingest(name)
except TransientError:
    pass
first = submitted()
job = world.ingestion.ingest(name)  # the redelivery: TaskExists counts as submitted
redelivered = submitted()
world.batch.tasks.clear()  # the task is gone from Batch
world.clock.advance(16 * 60)
sweep = world.reconciler.run()
print(json.dumps({"first": first, "redelivered": redelivered, "resubmitted": submitted(),
                  "state": job.state.value, "attempts": world.batch.attempts, "examined": sweep.examined}))
"""


def test_a_redelivery_finding_its_task_is_not_counted_and_a_resubmission_by_the_reconciler_is():
    got = run(SCRIPT)
    assert got["state"] == "QUEUED" and got["examined"] == 1
    assert got["attempts"] == 3  # the first pass, the redelivery and the reconciler each asked Batch
    assert got["first"] == [["ocr/ppocrv4", 1]]
    assert got["redelivered"] == [["ocr/ppocrv4", 1]]  # the same task: no new pending work
    assert got["resubmitted"] == [["ocr/ppocrv4", 2]]
