"""SDK exceptions → the shared.errors tree: the one mapping, and the one way adapters call an Azure SDK.

Every module that imports an Azure SDK in `shared/` calls it through `call(what, fn, ...)`, or runs a
block inside `with translated(what):` where the SDK work is not one call: a pager fetches its pages while
it is iterated, so the iteration itself must be inside. No adapter catches an SDK exception itself
(tests/unit/adapters/test_sdk_errors.py checks that); an adapter that must tell two refusals apart (a lease
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

from batch_tasks.azure_retry import code_of, may_succeed_later, status_of, translating
from shared.errors import Conflict, NotFound, PermanentError, SitelensError, TransientError

T = TypeVar("T")


def translate(exc: AzureError, what: str) -> SitelensError:  # noqa: PLR0911 (one case per line reads best)
    """The one mapping: 404 → NotFound, 409/412 → Conflict, what `batch_tasks.azure_retry` (the rule the node
    shares) calls retryable, 408/429/5xx and no answer at all, → TransientError, 401/403 or a credential
    refused for good → `not_authorised`, any other refusal → `service_refused`.

    The status decides before the SDK's class: the storage SDK picks the class from the service's error code,
    not its status (`CannotVerifyCopySource` is a ResourceNotFoundError even at 500, when the service could
    not check the copy source in time), and a 403 from a missing role (`AuthorizationPermissionMismatch`)
    stays a plain HttpResponseError. A credential's error is the identity endpoint's, never the resource's:
    its 404 is not the resource's either."""
    status = status_of(exc)
    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        return TransientError(f"{what}: service unreachable ({type(exc).__name__})")
    if isinstance(exc, ClientAuthenticationError):
        if may_succeed_later(exc):
            return TransientError(f"{what}: no token yet ({type(exc).__name__}{f' HTTP {status}' if status else ''})")
        return PermanentError(f"{what}: not authorised ({code_of(exc) or type(exc).__name__})", reason="not_authorised")
    if status == 404 or (isinstance(exc, ResourceNotFoundError) and not status):
        return NotFound(f"{what} not found" + (f" ({code_of(exc)})" if code_of(exc) else ""))
    if status in (409, 412) or isinstance(exc, ResourceExistsError | ResourceModifiedError):
        return Conflict(f"{what}: {code_of(exc) or 'already exists or changed'}")
    if may_succeed_later(exc):
        return TransientError(f"{what}: HTTP {status} {code_of(exc)}" if status else f"{what}: {type(exc).__name__}")
    if status in (401, 403):
        return PermanentError(f"{what}: not authorised (HTTP {status} {code_of(exc)})", reason="not_authorised")
    return PermanentError(f"{what}: HTTP {status} {code_of(exc)}", reason="service_refused")


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
    return code_of(cause) if isinstance(cause, AzureError) else ""


def service_status(error: BaseException) -> int:
    """The HTTP status behind a translated error (412 tells a lost precondition from a 409), or 0."""
    cause = error.__cause__
    return status_of(cause) if isinstance(cause, AzureError) else 0
