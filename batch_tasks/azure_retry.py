"""Which Azure SDK failures a retry may fix: the one rule for both deployables.

The node translates SDK errors into its own tree (`batch_tasks.node.storage`) and the app into `shared.errors`
(`shared/adapters/azure_errors.py`); both ask this module whether a failure is transient and run SDK work
inside `translating`, so the two mappings cannot drift apart. It is shipped in the app's package too
(`infra/package.py`, APP_NODE_MODULES), and needs nothing but azure-core, which both sides install.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from azure.core.exceptions import AzureError, HttpResponseError

# Timeouts, throttling and the service's own failures; everything else an answer says is a refusal.
RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})


def status_of(exc: AzureError) -> int:
    """The HTTP status of the service's answer; 0 when there was none (or a credential got no token)."""
    return int(getattr(exc, "status_code", 0) or 0) if isinstance(exc, HttpResponseError) else 0


def may_succeed_later(exc: AzureError) -> bool:
    """No answer at all (refused, timed out, cut off mid-reply), or an answer whose status says so."""
    if isinstance(exc, HttpResponseError):
        return status_of(exc) in RETRYABLE_STATUS
    return True


@contextlib.contextmanager
def translating(what: str, translate: Callable[[AzureError, str], Exception]) -> Iterator[None]:
    """Any SDK exception raised inside the block leaves it as `translate(exc, what)`, the SDK's as its cause."""
    try:
        yield
    except AzureError as exc:
        raise translate(exc, what) from exc
