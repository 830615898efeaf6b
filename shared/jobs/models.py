"""The job record and its state machine.

    RECEIVED ─┬─► QUEUED ─┬─► RUNNING ─┬─► SUCCEEDED
              │           │            └─► FAILED
              │           ├─► SUCCEEDED    (a completion that arrives before RUNNING was seen; a cached result)
              │           └─► FAILED
              ├─► SUCCEEDED (a cached result from the same bytes)
              ├─► REJECTED
              └─► FAILED    (submission refused for good)

Terminal states never change. Bookkeeping fields (the published event, a retry's pointer, a later write
of the photo's name) may still be written on a terminal job; `advance` is the only way to change its state.
"""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from shared.errors import Conflict


class JobState(enum.StrEnum):
    RECEIVED = "RECEIVED"
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    REJECTED = "REJECTED"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.REJECTED})
_NEXT: dict[JobState, frozenset[JobState]] = {
    JobState.RECEIVED: frozenset({JobState.QUEUED, JobState.SUCCEEDED, JobState.REJECTED, JobState.FAILED}),
    JobState.QUEUED: frozenset({JobState.RUNNING, JobState.SUCCEEDED, JobState.FAILED}),
    JobState.RUNNING: frozenset({JobState.SUCCEEDED, JobState.FAILED}),
}
_STAMP = {JobState.QUEUED: "queued_at", JobState.RUNNING: "started_at"}


class TerminalStateError(Conflict):
    reason = "job_terminal"


class TransitionError(Conflict):
    reason = "invalid_transition"


@dataclass(frozen=True)
class Job:
    id: str
    site: str
    device: str
    photo_id: str
    blob_name: str  # inside the `photos` container
    blob_etag: str  # the version ingestion first read: the only one validated, moved or processed
    received_at: datetime
    state: JobState = JobState.RECEIVED
    model: str | None = None
    reason: str | None = None
    detail: str | None = None
    content_sha256: str | None = None
    cached_from: str | None = None
    quality: dict[str, Any] = field(default_factory=dict)
    queued_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    batch_job_id: str | None = None
    # The secret the job's Batch task is given (its environment) and echoes in its completion message: any node
    # may post to the queue, so only a message carrying it is believed. Set when the job is recorded, before any
    # task exists, so every submission (a resubmission too) hands the task the one recorded. Never shown: kept
    # out of repr (logs), and out of every public document. None: recorded by a release before tasks had one.
    task_token: str | None = field(default=None, repr=False)
    attempt: int = 0  # the Batch attempt whose completion was accepted
    result_path: str | None = None
    result_checksum: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    retry_of: str | None = None
    retried_by: str | None = None
    later_writes: int = 0  # versions written under the name after `blob_etag`: recorded, never processed
    later_etag: str | None = None  # the last of them seen
    event_id: str | None = None
    event_published: bool = False
    # The job's place in its photo's trace (W3C traceparent of ingestion's span): later hops join it.
    traceparent: str | None = None
    etag: str | None = None  # the store's version; None until first stored

    @property
    def terminal(self) -> bool:
        return self.state.terminal

    def advance(self, to: JobState, at: datetime, **changes: Any) -> Job:
        """The job in state `to`, with `changes`; raises when the machine forbids the move."""
        if self.terminal:
            raise TerminalStateError(f"job {self.id} is {self.state} and stays so")
        if to not in _NEXT[self.state]:
            raise TransitionError(f"job {self.id}: {self.state} -> {to} is not a transition")
        stamps: dict[str, Any] = {}
        if to in _STAMP and getattr(self, _STAMP[to]) is None:
            stamps[_STAMP[to]] = at
        if to.terminal:
            stamps["finished_at"] = at
        return replace(self, state=to, **{**stamps, **changes})

    def cached_fields(self) -> dict[str, Any]:
        """What a job with the same bytes copies from this one, when this one SUCCEEDED."""
        return {
            "cached_from": self.id,
            "model": self.model,
            "result_path": self.result_path,
            "result_checksum": self.result_checksum,
            "summary": self.summary,
            "attempt": self.attempt,
        }

    @property
    def latency_ms(self) -> int | None:
        if self.finished_at is None:
            return None
        return int((self.finished_at - self.received_at).total_seconds() * 1000)


def new_task_token() -> str:
    """A job's task secret: 24 random bytes, URL-safe text (an environment value and a JSON string as it is)."""
    return secrets.token_urlsafe(24)
