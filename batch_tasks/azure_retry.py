"""Which Azure SDK failures a retry may fix: the one rule for both deployables.

The node translates SDK errors into its own tree (`batch_tasks.node.storage`) and the app into `shared.errors`
(`shared/adapters/azure_errors.py`); both ask this module whether a failure is transient and run SDK work
inside `translating`, so the two mappings cannot drift apart. It is shipped in the app's package too
(`infra/package.py`, APP_NODE_MODULES), and needs nothing but azure-core, which both sides install.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)

# Timeouts, throttling and the service's own failures; everything else an answer says is a refusal.
RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
# What stands behind an error when nobody answered: the SDK's transport errors, or the socket's own.
_NO_ANSWER = (ServiceRequestError, ServiceResponseError, ConnectionError, TimeoutError)


def status_of(exc: AzureError) -> int:
    """The HTTP status of the service's answer; 0 when there was none (or a credential got no token)."""
    return int(getattr(exc, "status_code", 0) or 0) if isinstance(exc, HttpResponseError) else 0


def code_of(exc: AzureError) -> str:
    """The service's own error code (`LeaseIdMissing`, `TaskExists`), or ''."""
    error = getattr(exc, "error", None)
    code = getattr(error, "code", "") or getattr(exc, "error_code", "") or ""
    # The storage SDK turns a code it knows into a StorageErrorCode, whose str() is the member's name
    # (`StorageErrorCode.CONDITION_NOT_MET`); the service's code is its value.
    return str(getattr(code, "value", code))


def may_succeed_later(exc: AzureError) -> bool:
    """No answer at all (refused, timed out, cut off mid-reply), or an answer whose status says so.

    An error without a status says what happened only through its causes. The storage SDK raises a bare
    HttpResponseError when a reply's body is cut off or stalls after its own retries: nothing refused, so
    a retry may succeed. A credential that got no token (ClientAuthenticationError, CredentialUnavailableError)
    is transient only when its identity endpoint did not answer or answered with a retryable status; one
    the endpoint refused, or that had nothing to ask with, stays refused."""
    status = status_of(exc)
    if status:
        return status in RETRYABLE_STATUS
    if not isinstance(exc, HttpResponseError):
        return True
    behind = _verdict_behind(exc)
    if behind is not None:
        return behind
    return not isinstance(exc, ClientAuthenticationError)


def _verdict_behind(exc: BaseException) -> bool | None:
    """What the first telling cause of `exc` says: no answer (True), an answer's status, or nothing (None)."""
    seen: set[int] = set()
    cause = _cause(exc)
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, _NO_ANSWER):
            return True
        if isinstance(cause, HttpResponseError) and status_of(cause):
            return status_of(cause) in RETRYABLE_STATUS
        cause = _cause(cause)
    return None


def _cause(exc: BaseException) -> BaseException | None:
    """The exception `exc` was raised from or while handling, as Python's own traceback chains them."""
    if exc.__cause__ is not None:
        return exc.__cause__
    return None if exc.__suppress_context__ else exc.__context__


@contextlib.contextmanager
def translating(what: str, translate: Callable[[AzureError, str], Exception]) -> Iterator[None]:
    """Any SDK exception raised inside the block leaves it as `translate(exc, what)`, the SDK's as its cause."""
    try:
        yield
    except AzureError as exc:
        raise translate(exc, what) from exc
