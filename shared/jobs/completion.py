"""`on_task_completed`: a task's completion message moves its job to SUCCEEDED or FAILED.

The message carries ids only: `{job_id, task_id, attempt, outcome, result_path, checksum, error?,
started_at?, traceparent, task_token?}`, `result_path` being the blob name in `results` (`batch_tasks.artifacts`).

Every node may post to the queue, so a message is believed only when its `task_token` is the secret recorded
on the job and given to the job's own task (`Job.task_token`): one with another token, or none for a job that
has one, changes nothing. It is logged (never the token), counted (`sitelens.completions.refused`) and
dropped, not raised, since no retry could make it true. A node of an earlier release sends no token: its
jobs are settled by the reconciler from Batch's view of the task instead (docs/reliability.md).
Success is believed only when the artifact exists and its SHA-256 matches the message; a mismatch usually
means a later attempt (a Batch recovery re-run) overwrote the result, and that attempt's own message will
match, so a mismatch is logged and left to it, and to the reconciler.

`attempt` is optional: a Batch task cannot know which run it is (Batch gives it no retry count), so the
node sends none. A message without one records at least 1 (a count the job already has is kept); the
reconciler, which reads the task from Batch, records Batch's own count (`retryCount` + 1) when it is the one
that ends the job.

A result is `bad_result` (FAILED) only when it is not a JSON object or breaks a schema this release knows. One
under a schema it does not (a node a release ahead) SUCCEEDS with a minimal summary (`shared.jobs.result_kinds`):
the photo was read, and its whole result stays linked.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from opentelemetry.trace import SpanKind

from batch_tasks import telemetry
from shared import metrics
from shared.errors import InvalidInput, NotFound
from shared.jobs import ids
from shared.jobs.finisher import Finisher
from shared.jobs.models import Job, JobState
from shared.jobs.ports import JobStore, PhotoStore
from shared.jobs.result_kinds import READ_ERRORS, UNKNOWN, summarise

log = logging.getLogger(__name__)
# A failed completion's node code → the job's reason. A node posts one only for a code final for the job
# (`batch_tasks.errors.FINAL_ERRORS`); any other code comes from a node a release ahead of the app, and fails the
# job `inference_failed` (the catch-all) with the node's code leading the detail, never under another code's name.
NODE_ERRORS = {
    "bad_input": "bad_input",
    "too_large": "bad_input",
    "model_output_invalid": "model_output_invalid",
    "unknown_model": "unknown_model",
    "model_not_served": "model_not_served",
}


@dataclass(frozen=True)
class CompletionMessage:
    job_id: str
    attempt: int | None  # None: the node did not know it
    outcome: str
    result_path: str | None
    checksum: str | None
    error_code: str | None
    error_message: str | None
    started_at: datetime | None
    traceparent: str | None = None  # the node's job span; a hint only, dropped unless well-formed
    task_token: str | None = field(default=None, repr=False)  # the secret of the task that sent it, if any

    @classmethod
    def parse(cls, body: bytes) -> CompletionMessage:
        try:
            doc = json.loads(body)
            job_id = str(doc["job_id"])
            outcome = str(doc["outcome"])
            error = doc.get("error") or {}
            started = doc.get("started_at")
            attempt = None if doc.get("attempt") is None else int(doc["attempt"])
            token = None if doc.get("task_token") is None else str(doc["task_token"])
            message = cls(
                job_id, attempt, outcome, doc.get("result_path"), doc.get("checksum"),
                error.get("code"), error.get("message"), datetime.fromisoformat(started) if started else None,
                telemetry.parse_traceparent(doc.get("traceparent")), token,
            )  # fmt: skip
        except READ_ERRORS as exc:  # malformed the ways a result document can be: one list, kept in step
            raise InvalidInput(f"completion message is malformed: {exc}", reason="bad_message") from exc
        if not ids.is_job_id(job_id) or outcome not in ("succeeded", "failed"):
            raise InvalidInput(f"completion message names {job_id!r} / {outcome!r}", reason="bad_message")
        return message


def _known(attempt: int | None, job: Job) -> dict[str, int]:
    """The job change that records `attempt`. Not known (the node's own message), at least one attempt ran:
    the job keeps a count it already has (the reconciler's, from Batch) and otherwise records 1."""
    return {"attempt": max(job.attempt, 1) if attempt is None else attempt}


def _from_its_task(message: CompletionMessage, job: Job) -> bool:
    """Whether the message carries the secret the job's task was given. A job recorded without one (by an
    earlier release) has nothing to check against and takes the message as it always did."""
    if job.task_token is None:
        return True
    if message.task_token is not None and hmac.compare_digest(message.task_token.encode(), job.task_token.encode()):
        return True
    refusal = "missing" if message.task_token is None else "mismatch"
    log.warning("completion for %s dropped: its task token is %s (a node of an earlier release, or a message "
                "not from the job's task); the reconciler settles the job from Batch", job.id, refusal)  # fmt: skip
    metrics.completion_refused(job.site, refusal)
    return False


def _model_of(result: dict[str, Any]) -> str | None:
    model = result.get("model")
    if isinstance(model, dict) and model.get("name") and model.get("version"):
        return f"{model['name']}/{model['version']}"
    return None


class Completion:
    def __init__(
        self, *, store: JobStore, photos: PhotoStore, finisher: Finisher, clock: Callable[[], datetime]
    ) -> None:
        self.store, self.photos, self.finisher, self.clock = store, photos, finisher, clock

    def handle(self, body: bytes) -> Job:
        message = CompletionMessage.parse(body)
        job = self.store.get(message.job_id)
        attributes = {"sitelens.site": job.site, "sitelens.attempt": message.attempt,
                      "sitelens.outcome": message.outcome}  # fmt: skip
        parent = message.traceparent or job.traceparent
        kind = SpanKind.CONSUMER
        with telemetry.job_span("complete", job.id, parent=parent, kind=kind, attributes=attributes) as span:
            done = self._handle(message, job)
            span.set_attribute("sitelens.state", done.state.value)
            if done.state is JobState.FAILED and done.reason:
                # The job failed, the handling did not: the reason, never error status, which a span keeps for
                # its own operation failing (a raise, set by job_span) and Application Insights counts as a
                # failed request.
                span.set_attribute("sitelens.reason", done.reason)
            return done

    def _handle(self, message: CompletionMessage, job: Job) -> Job:
        if not _from_its_task(message, job):
            return job  # nothing applied, nothing published: what such a message says is not evidence
        if job.terminal:
            log.info("completion for %s ignored: already %s", job.id, job.state)
            return self.finisher.publish(job)
        started = {"started_at": message.started_at} if message.started_at and not job.started_at else {}
        if message.outcome == "failed":
            code = message.error_code or ""
            reason, detail = NODE_ERRORS.get(code), message.error_message
            if reason is None:
                reason, detail = "inference_failed", f"{code or 'no code'}: {detail or ''}".strip()
            done = self.finisher.finish(job, JobState.FAILED, reason=reason, detail=detail,
                                        **_known(message.attempt, job), **started)  # fmt: skip
            self.complete_followers(done)
            return done
        # A message names ids, never where to read from: the path is checked, not followed. One that differs
        # (a node of an older release, mid-deploy) is logged and the result read where the job's id puts it.
        expected = ids.result_path(job.id)
        if message.result_path != expected:
            log.warning("completion for %s names %r; reading %s", job.id, message.result_path, expected)
        return self.accept_result(job, expected, message.checksum,
                                  message.attempt, started)  # fmt: skip

    def accept_result(
        self, job: Job, path: str, checksum: str | None, attempt: int | None, extra: dict[str, Any] | None = None
    ) -> Job:
        """SUCCEEDED when the artifact is there and matches `checksum` (None: whatever is there, for repairs).
        `attempt` None (not known) records at least 1, keeping a count the job already has."""
        try:
            data = self.photos.read_result(path)
        except NotFound:
            done = self.finisher.finish(job, JobState.FAILED, reason="result_missing", detail=path,
                                        **_known(attempt, job))  # fmt: skip
            self.complete_followers(done)
            return done
        actual = "sha256:" + hashlib.sha256(data).hexdigest()
        if checksum is not None and actual != checksum:
            log.warning("job %s attempt %s: result checksum %s != %s; waiting for the matching attempt",
                        job.id, attempt, actual, checksum)  # fmt: skip
            return job
        try:
            result = json.loads(data)
            summary = summarise(result)
        except READ_ERRORS as exc:  # not JSON, not an object, or a schema this release knows, broken
            done = self.finisher.finish(job, JobState.FAILED, reason="bad_result", detail=f"bad result: {exc}")
            self.complete_followers(done)
            return done
        if summary["kind"] == UNKNOWN:  # a newer node's result: the photo was read, the job succeeds all the same
            log.warning("job %s: result schema %r is not one this release reads; kept with a minimal summary",
                        job.id, summary["schema"])  # fmt: skip
        changes: dict[str, Any] = {"result_path": path, "result_checksum": actual, "summary": summary,
                                   **_known(attempt, job), **(extra or {})}  # fmt: skip
        if job.model is None:  # completed before its submission was recorded (the recording process died)
            changes["model"] = _model_of(result)
        done = self.finisher.finish(job, JobState.SUCCEEDED, **changes)
        self.complete_followers(done)
        return done

    def complete_followers(self, owner: Job) -> None:
        """Jobs waiting on the same bytes take the owner's result; if it failed, the reconciler runs them."""
        if owner.state is not JobState.SUCCEEDED or not owner.content_sha256 or not owner.model:
            return
        for follower_id in self.store.followers(owner.site, ids.content_key(owner.content_sha256, owner.model)):
            follower = self.store.get(follower_id)
            if not follower.terminal and follower.cached_from == owner.id:
                self.finisher.finish(follower, JobState.SUCCEEDED, **owner.cached_fields())
