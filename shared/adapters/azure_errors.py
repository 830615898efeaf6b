"""SDK exceptions → the shared.errors tree: the one mapping, and the one way adapters call an Azure SDK.

Every module that imports an Azure SDK in `shared/` calls it through `call(what, fn, ...)`, or runs a
block inside `with translated(what):` where the SDK work is not one call: a pager fetches its pages while
it is iterated, so the iteration itself must be inside. No adapter catches an SDK exception itself
(tests/unit/jobs/test_sdk_errors.py checks that); an adapter that must tell two refusals apart (a lease
from an ETag mismatch, say) catches the translated error and reads the service's code with
`service_code`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, TypeVar

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)

from batch_tasks.azure_retry import may_succeed_later, status_of, translating
from shared.errors import Conflict, NotFound, PermanentError, SitelensError, TransientError

T = TypeVar("T")


def translate(exc: AzureError, what: str) -> SitelensError:  # noqa: PLR0911 (one case per line reads best)
    """The one mapping: 404 → NotFound, 409/412 → Conflict, and what `batch_tasks.azure_retry` (the rule the
    node shares) calls retryable, 408/429/5xx and no answer at all, → TransientError."""
    if isinstance(exc, ResourceNotFoundError):
        return NotFound(f"{what} not found")
    if isinstance(exc, ResourceExistsError | ResourceModifiedError):
        return Conflict(f"{what}: {_code(exc) or 'already exists or changed'}")
    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        return TransientError(f"{what}: service unreachable ({type(exc).__name__})")
    if isinstance(exc, ClientAuthenticationError):
        return PermanentError(f"{what}: not authorised ({_code(exc)})", reason="not_authorised")
    status = status_of(exc)
    if status == 404:
        return NotFound(f"{what} not found ({_code(exc)})")
    if status in (409, 412):
        return Conflict(f"{what}: {_code(exc)}")
    if not may_succeed_later(exc):
        return PermanentError(f"{what}: HTTP {status} {_code(exc)}", reason="service_refused")
    return TransientError(f"{what}: HTTP {status} {_code(exc)}" if status else f"{what}: {type(exc).__name__}")


def translated(what: str) -> contextlib.AbstractContextManager[None]:
    """Any SDK exception raised inside the block leaves it translated, the SDK's error as its cause."""
    return translating(what, translate)


def call(what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`fn(*args, **kwargs)`, its SDK exceptions translated. A pager it returns is not yet fetched: list it
    inside `translated` (or pass a function that does)."""
    with translated(what):
        return fn(*args, **kwargs)


def service_code(error: BaseException) -> str:
    """The service's own error code (`TaskExists`, `LeaseIdMissing`) behind a translated error, or ''."""
    cause = error.__cause__
    return _code(cause) if isinstance(cause, AzureError) else ""


def service_status(error: BaseException) -> int:
    """The HTTP status behind a translated error (412 tells a lost precondition from a 409), or 0."""
    cause = error.__cause__
    return int(getattr(cause, "status_code", 0) or 0) if isinstance(cause, AzureError) else 0


def _code(exc: AzureError) -> str:
    error = getattr(exc, "error", None)
    return str(getattr(error, "code", "") or getattr(exc, "error_code", "") or "")
