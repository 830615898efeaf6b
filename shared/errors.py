"""The one error tree of the sitelens app: every failure it raises on purpose is one of these.

    SitelensError                      internal_error  a bug (HTTP 500)
    ├── TransientError                 transient       retry later: throttling, timeouts, connection
    │                                                  failures, 408/429/5xx from a service (HTTP 503)
    └── PermanentError                 permanent       retrying cannot help; the reason says why (HTTP 422)
        ├── NotFound                   not_found       the named resource does not exist (HTTP 404)
        ├── Conflict                   conflict        a conditional write lost: ETag mismatch, already
        │   │                                          exists (HTTP 409)
        │   ├── TerminalStateError     job_terminal    shared/jobs/models.py: terminal states never change
        │   └── TransitionError        invalid_transition  the job state machine forbids the change
        ├── InvalidInput               invalid_input   a request or document breaks a documented rule (HTTP 400)
        │   └── UnsafeWebhookUrl       webhook_url_refused  shared/webhooks/endpoint.py
        ├── ConfigError                configuration_error  shared/config.py: a setting is missing or invalid
        ├── UnknownJobState            unknown_job_state  a stored job's state is not one this release knows
        │                                                  (written by a newer release): reported per job
        └── PhotoUnreadable            photo_missing, overwritten, photo_unreadable  shared/jobs/photo_verdict.py

Whether anything retries depends on `isinstance(e, TransientError)` and nothing else: ingestion lets a
transient error escape, so the host delivers the blob event again, and records a permanent one on the job;
the reconciler leaves a job whose repair failed for its next sweep. A queue message whose handler raises
is retried by the host up to `maxDequeueCount` and then moved to its poison queue, which is where a
malformed message (`bad_message`, permanent) ends.

Every error carries a stable `reason` code: the class's, or a more specific one given where it is raised
(`bad_job_id`, `overwritten`, `bad_message`, ...), all listed in docs/reason-codes.md, which also shows
this tree. The HTTP status of each class is `shared/problems.py`'s. Azure SDK exceptions enter the tree in
one place, `shared/adapters/azure_errors.py`; the Batch node has a tree of its own (`batch_tasks/errors.py`,
docs/node.md says how the two correspond). tests/unit/jobs/test_error_tree.py keeps this drawing, the
docs and the classes in step.
"""

from __future__ import annotations


class SitelensError(Exception):
    reason: str = "internal_error"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason


class TransientError(SitelensError):
    reason = "transient"


class PermanentError(SitelensError):
    reason = "permanent"


class NotFound(PermanentError):
    reason = "not_found"


class Conflict(PermanentError):
    reason = "conflict"


class InvalidInput(PermanentError):
    reason = "invalid_input"


class UnknownJobState(PermanentError):
    """A job row whose `state` this release does not know: a newer release wrote it (read after a rollback, or
    by an older instance beside a newer one). Only that job is unreadable; a listing skips it."""

    reason = "unknown_job_state"
