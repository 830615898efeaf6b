"""TaskSubmitter on Azure Batch (azure-batch 15.x `BatchClient`): one task per job, task id = job id.

Batch jobs are one per UTC day for every model (`shared.jobs.ids.batch_job_id`; the task's environment names
its model), created on demand (`JobExists` from a racing instance is fine), and terminated, then deleted, by
the reconciler's first step once their day is old; an earlier release's per-model jobs are terminated sooner,
once idle (`finish_jobs_before`). A task that already exists counts as submitted, so a redelivered photo never
runs twice. Batch answers 409 for more than those two races, and the rest are read by their code (`_refused`):
a Batch job that takes no more tasks (completed, or being terminated) is PermanentError `batch_refused`, since
no retry reopens it; a job being deleted, or the account's quota of active jobs spent, is a TransientError,
since a later try creates the job afresh or finds the quota freed as older jobs are terminated. Tasks run as
the pool-scope auto user (the same uid as the node server, so they can reach its socket) without elevation,
with a wall-clock bound and a retry count; the input is a resource file.

Each task's environment carries its job's secret (`SITELENS_TASK_TOKEN`), which its completion message
echoes: the app believes only messages that carry it (`shared.jobs.completion`). It is never logged here.

The input is read as the pool's user-assigned identity (`identity_resource_id`, SITELENS_NODE_IDENTITY_ID):
its plain blob URL plus the identity reference, never a SAS, which would be a second, longer-lived way in.
The local stack names its Batch service's stand-in identity, so it runs this same path. Only a spec without
an identity (tests whose pools have none) sends the URL as it is given.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import NoReturn

from azure.batch import BatchClient, models
from azure.batch.models._models import BatchJobTerminateOptions  # 15.x does not export it publicly

from shared.adapters.azure_errors import call, service_code
from shared.errors import Conflict, NotFound, PermanentError, TransientError
from shared.jobs.ports import TaskRequest, TaskState, TaskView
from shared.pipeline_settings import INPUT_FILE, TASK_TIMEOUT

log = logging.getLogger(__name__)
TASK_TOKEN = "SITELENS_TASK_TOKEN"  # noqa: S105 (a variable's name): the job's secret, which batch_tasks/task.py sends
TASK_MODEL = "SITELENS_MODEL"  # the model the task runs, which batch_tasks/task.py reads
# A day's Batch job: `sitelens-20261122`, or an earlier release's `sitelens-ocr-ppocrv4-20261122` (one per model
# version, its model the first group), still in the account after an upgrade and closed by the same rule.
_DAY = re.compile(r"^sitelens-(?:(.+)-)?(\d{8})$")
_STATES = {
    "active": TaskState.ACTIVE,
    "preparing": TaskState.RUNNING,
    "running": TaskState.RUNNING,
    "completed": TaskState.COMPLETED,
}
# Batch's 409s that are neither `TaskExists` nor `JobExists` (docs/reason-codes.md#batch_refused):
_JOB_CLOSED = frozenset({"JobCompleted", "JobNotActive", "JobBeingTerminated"})  # takes no task ever again
_LATER = frozenset({"JobBeingDeleted", "ActiveJobAndScheduleQuotaReached"})  # a later try can succeed
# What `cancel` finds done already: the task ended, or its Batch job is ending or going, which takes it
# out of scheduling (a terminated job's waiting tasks are never scheduled).
_ENDED = frozenset({"TaskCompleted", "JobCompleted", "JobBeingTerminated", "JobBeingDeleted"})
# Old completed days deleted by one call: a deployment's first run after an upgrade may find a day (a day per
# model, from an earlier release) since it began, and a call a few seconds long leaves the reconciler's run its
# budget; the rest go next run.
JOB_DELETES_PER_CALL = 50


@dataclass(frozen=True)
class TaskSpec:
    """How tasks look: fixed per deployment, from Settings."""

    pool_id: str
    command: str  # `{job_id}` and `{input}` are filled in; run under /bin/sh -c by the command itself
    environment: Mapping[str, str] = field(default_factory=dict)
    max_wall_clock: timedelta = timedelta(minutes=10)
    max_retries: int = 2
    retention: timedelta = timedelta(days=1)
    identity_resource_id: str | None = None  # the pool's user-assigned identity, which reads the input


def task_timeout_s(max_wall_clock: timedelta) -> int:
    """How long the task waits for the node server: 90 % of the task's wall clock (540 s of 600), so a task
    that gives up still has the rest to post its failure before Batch ends it without a word."""
    return max(1, int(max_wall_clock.total_seconds() * 0.9))


def _without_query(url: str) -> str:
    """The URL without its query: whatever SAS a caller put there is not sent along with the identity."""
    return urllib.parse.urlsplit(url)._replace(query="", fragment="").geturl()


class BatchTaskSubmitter:
    def __init__(self, client: BatchClient, spec: TaskSpec) -> None:
        self.client, self.spec = client, spec

    def submit(self, request: TaskRequest) -> bool:
        task = self._task(request)
        for attempt in range(3):
            try:
                call(f"task {request.job_id}", self.client.create_task, request.batch_job_id, task)
                log.info("submitted task %s to %s", request.job_id, request.batch_job_id)
                return True
            except Conflict as exc:
                if service_code(exc) != "TaskExists":
                    _refused(exc, f"task {request.job_id} in Batch job {request.batch_job_id}")
                if attempt == 2 or not self._replaced_stale(request):
                    log.info("task %s already exists: counts as submitted", request.job_id)
                    return False
            except NotFound as exc:
                if service_code(exc) != "JobNotFound":
                    raise
                self._create_job(request.batch_job_id)
        raise NotFound(f"Batch job {request.batch_job_id} vanished while submitting {request.job_id}")

    def _replaced_stale(self, request: TaskRequest) -> bool:
        """Whether the task under this id was an earlier job's, now deleted so the job's own can be created. An id
        comes back only after its job was erased (`sitelens erase`) and the photo sent again the same day: the
        old task, finished, would count as this job's and the reconciler would fail it `result_missing`. Told
        apart by the job's secret; a task without one (an earlier release's) counts as this job's.

        The job's own task running another model is a Conflict: a day's Batch job holds every model's tasks, so
        the id cannot stand for this request as well, and a job's model is recorded before its task is
        submitted, so a pass asking for another one read the job before that record (a Conflict has ingestion
        read it again)."""
        if not request.task_token:
            return False
        try:
            existing = call(f"task {request.job_id}", self.client.get_task, request.batch_job_id, request.job_id)
        except NotFound:
            return True  # deleted meanwhile: create it
        env = {e.name: e.value for e in existing.environment_settings or []}
        token = env.get(TASK_TOKEN)
        if token is not None and not hmac.compare_digest(token, request.task_token):
            log.warning("task %s in %s belongs to an erased job of the same id: replacing it", request.job_id,
                        request.batch_job_id)  # fmt: skip
            with contextlib.suppress(NotFound):
                call(f"task {request.job_id}", self.client.delete_task, request.batch_job_id, request.job_id)
            return True
        if env.get(TASK_MODEL, request.model) != request.model:
            raise Conflict(f"task {request.job_id} in Batch job {request.batch_job_id} runs model "
                           f"{env[TASK_MODEL]}, not {request.model}")  # fmt: skip
        return False

    def _task(self, request: TaskRequest) -> models.BatchTaskCreateOptions:
        identity, url = None, request.input_url
        if self.spec.identity_resource_id:
            identity = models.BatchNodeIdentityReference(resource_id=self.spec.identity_resource_id)
            url = _without_query(url)
        env = {
            TASK_TIMEOUT: str(task_timeout_s(self.spec.max_wall_clock)),
            **self.spec.environment,
            TASK_MODEL: request.model,
            "SITELENS_JOB_ID": request.job_id,
        }
        if request.traceparent:  # the task joins the photo's trace (docs/telemetry.md)
            env["TRACEPARENT"] = request.traceparent
        if request.task_token:  # after the deployment's own settings, which must not replace it
            env[TASK_TOKEN] = request.task_token
        return models.BatchTaskCreateOptions(
            id=request.job_id,
            command_line=self.spec.command.format(job_id=request.job_id, input=INPUT_FILE),
            resource_files=[models.ResourceFile(http_url=url, file_path=INPUT_FILE, identity_reference=identity)],
            environment_settings=[models.EnvironmentSetting(name=k, value=v) for k, v in sorted(env.items())],
            constraints=models.BatchTaskConstraints(
                max_wall_clock_time=self.spec.max_wall_clock,
                max_task_retry_count=self.spec.max_retries,
                retention_time=self.spec.retention,
            ),
            user_identity=models.UserIdentity(
                auto_user=models.AutoUserSpecification(
                    scope=models.AutoUserScope.POOL, elevation_level=models.ElevationLevel.NON_ADMIN
                )
            ),
        )

    def _create_job(self, batch_job_id: str) -> None:
        job = models.BatchJobCreateOptions(id=batch_job_id, pool_info=models.BatchPoolInfo(pool_id=self.spec.pool_id))
        try:
            call(f"Batch job {batch_job_id}", self.client.create_job, job)
            log.info("created Batch job %s on pool %s", batch_job_id, self.spec.pool_id)
        except Conflict as exc:
            if service_code(exc) != "JobExists":
                _refused(exc, f"Batch job {batch_job_id}")

    def cancel(self, batch_job_id: str, task_id: str) -> None:
        """Terminate the task if it still waits or runs; one already ended, or gone, is left as it is."""
        try:
            call(f"task {task_id}", self.client.terminate_task, batch_job_id, task_id)
            log.info("terminated task %s in %s", task_id, batch_job_id)
        except NotFound:
            log.info("task %s is not in Batch job %s: nothing to terminate", task_id, batch_job_id)
        except Conflict as exc:
            if service_code(exc) not in _ENDED:
                _refused(exc, f"task {task_id} in Batch job {batch_job_id}")

    def view(self, batch_job_id: str, task_id: str) -> TaskView:
        try:
            task = call(f"task {task_id}", self.client.get_task, batch_job_id, task_id)
        except NotFound:
            return TaskView(TaskState.MISSING)
        info = task.execution_info
        failure = info.failure_info if info else None
        return TaskView(
            state=_STATES.get(str(getattr(task.state, "value", task.state)), TaskState.ACTIVE),
            exit_code=info.exit_code if info else None,
            failure_code=failure.code if failure else None,
            failure_message=failure.message if failure else None,
            retries=info.retry_count if info else 0,
            started_at=info.start_time if info else None,
        )

    def pool_state(self) -> dict[str, object]:
        """For health checks: the pool exists, and how many nodes it has and wants."""
        pool = call(f"pool {self.spec.pool_id}", self.client.get_pool, self.spec.pool_id)
        return {"pool": pool.id, "nodes": pool.current_dedicated_nodes, "target": pool.target_dedicated_nodes}

    def finish_jobs_before(self, day: date, idle_before: date | None = None) -> int:
        """Terminate sitelens' active Batch jobs of days before `day`, so the account's quota of active jobs
        holds only recent days, and an earlier release's per-model jobs of days before `idle_before` (today) once
        idle (`_idle`); returns how many. Their photos' jobs have normally ended by then (the reconciler fails a job
        still open at its bound, 24 h by default, and cancels its task), but terminating a Batch job does not end
        a task still waiting in it: Batch leaves it active and never schedules it.

        The per-model jobs would otherwise hold three days of quota per model routed until their day is old:
        an account that release filled would refuse this release's day job, so every photo, until then. This
        release never submits into them (the reconciler submits a missing task again into its day's job), and a
        completed task stays readable in a terminated job until the job is deleted, so ending them idle loses
        nothing. Today's stay until their day is old, as before: an instance of the earlier release may still
        submit into today's during the deployment, and would find it closed (`batch_refused`)."""
        cutoff, done = f"{day:%Y%m%d}", 0
        idle_cutoff = f"{idle_before:%Y%m%d}" if idle_before else cutoff
        for job_day, job_id, per_model in self._day_jobs("active"):
            if job_day < cutoff or (per_model and job_day < idle_cutoff and self._idle(job_id)):
                done += self._terminate(job_id)
        return done

    def _terminate(self, job_id: str) -> bool:
        """Ask Batch to terminate the job; False when it is already terminating or completed.

        Not waited for: the service finishes terminating on its own. Sent as the one request it is, not through
        15.x's `begin_terminate_job` (or `begin_delete_job`, below): the poller those return has already started
        a thread that reads the job every 5 s until the operation ends, whatever the caller does with it, outside
        the run's budget and function timeout, and no option of theirs turns it off (`polling=False` reaches the
        HTTP transport, which refuses it). So the SDK's own operation behind each: the same request and errors,
        no thread."""
        try:
            call(f"Batch job {job_id}", self.client._terminate_job_internal, job_id,
                  BatchJobTerminateOptions(termination_reason="sitelens: the day is closed"))  # fmt: skip
        except Conflict:
            return False  # already terminating or completed
        return True

    def _idle(self, job_id: str) -> bool:
        """Whether the Batch job holds no task that is not completed, by a listing of at most one such task: not the
        job's task counts, which Batch may serve stale, so a task an earlier-release instance just added would be
        missed and stranded. One call per per-model job per run, only while an earlier release's are active: the
        idle ones go at the first run after the upgrade, the rest once their tasks end or their day is old."""
        pending = self.client.list_tasks(job_id, filter="state ne 'completed'", select=["id"], max_results=1)
        try:
            return call(f"Batch job {job_id}", lambda: next(iter(pending), None)) is None
        except NotFound:
            return False  # deleted meanwhile: nothing to terminate

    def delete_jobs_before(self, day: date) -> int:
        """Delete sitelens' completed Batch jobs of days before `day`, oldest first, at most `JOB_DELETES_PER_CALL`
        (the rest next time); returns how many. Batch keeps a completed job and every task record in it (each
        task's environment and input URL) until the job is deleted, and its listings grow by a job a day. Not
        waited for: the service deletes the tasks on its own; one already gone or going is done."""
        cutoff, done = f"{day:%Y%m%d}", 0
        old = [job_id for job_day, job_id, _ in self._day_jobs("completed") if job_day < cutoff]
        for job_id in old[:JOB_DELETES_PER_CALL]:
            try:
                call(f"Batch job {job_id}", self.client._delete_job_internal, job_id)  # no poller: as above
                done += 1
            except NotFound:
                pass  # deleted meanwhile
            except Conflict as exc:
                if service_code(exc) != "JobBeingDeleted":
                    log.warning("Batch job %s not deleted this time: %s", job_id, exc)
        return done

    def _day_jobs(self, state: str) -> list[tuple[str, str, bool]]:
        """Sitelens' Batch jobs in `state` (one listing, filtered by the service), oldest day first: each one's day,
        the date that ends its id, its id, and whether it is an earlier release's per-model job. Other jobs in the
        account are never touched."""
        listed = call("Batch jobs", lambda: list(self.client.list_jobs(filter=f"state eq '{state}'", select=["id"])))
        found = [(match.group(2), job.id, match.group(1) is not None)
                 for job in listed if job.id and (match := _DAY.match(job.id))]  # fmt: skip
        return sorted(found)


def _refused(conflict: Conflict, what: str) -> NoReturn:
    """Raise what a Batch 409 other than `TaskExists` or `JobExists` means. It is no lost race, and a Conflict
    would have ingestion re-read the job and try again, so only a code not known here stays one."""
    code = service_code(conflict)
    if code in _JOB_CLOSED:
        detail = f"Batch refused {what}: {code} (that Batch job takes no more tasks)"
        raise PermanentError(detail, reason="batch_refused") from conflict.__cause__
    if code in _LATER:
        raise TransientError(f"{what}: {code}") from conflict.__cause__
    raise conflict
