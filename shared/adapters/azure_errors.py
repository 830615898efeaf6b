"""SDK exceptions → the shared.errors tree, for every Azure adapter (azure-core based SDKs)."""

from __future__ import annotations

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)

from shared.errors import Conflict, NotFound, PermanentError, SitelensError, TransientError

_RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})


def translate(exc: AzureError, what: str) -> SitelensError:  # noqa: PLR0911 (one case per line reads best)
    """The one mapping: 404 → NotFound, 409/412 → Conflict, 408/429/5xx and I/O failures → TransientError."""
    if isinstance(exc, ResourceNotFoundError):
        return NotFound(f"{what} not found")
    if isinstance(exc, ResourceExistsError | ResourceModifiedError):
        return Conflict(f"{what}: {_code(exc) or 'already exists or changed'}")
    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        return TransientError(f"{what}: service unreachable ({type(exc).__name__})")
    if isinstance(exc, ClientAuthenticationError):
        return PermanentError(f"{what}: not authorised ({_code(exc)})", reason="not_authorised")
    if isinstance(exc, HttpResponseError):
        status = exc.status_code or 0
        if status == 404:
            return NotFound(f"{what} not found ({_code(exc)})")
        if status in (409, 412):
            return Conflict(f"{what}: {_code(exc)}")
        if status in _RETRYABLE_STATUS:
            return TransientError(f"{what}: HTTP {status} {_code(exc)}")
        return PermanentError(f"{what}: HTTP {status} {_code(exc)}", reason="service_refused")
    return TransientError(f"{what}: {type(exc).__name__}")


def _code(exc: AzureError) -> str:
    error = getattr(exc, "error", None)
    return str(getattr(error, "code", "") or getattr(exc, "error_code", "") or "")
