"""The one error tree of sitelens. Adapters translate SDK exceptions into it at their edge.

    SitelensError
    ├── TransientError        retry later: throttling, timeouts, connection failures, 5xx from a service
    └── PermanentError        retrying cannot help; the reason code says why
        ├── NotFound          the named resource does not exist
        ├── Conflict          a conditional write lost (ETag mismatch, already exists)
        └── InvalidInput      a request or document breaks a documented rule

Whether a host retries depends on `isinstance(e, TransientError)` and nothing else. Every error carries a
stable `reason` code (documented in docs/reason-codes.md) for logs, API responses and job records.
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
