"""The retry policies that cap a `Retry-After` at `RETRY_AFTER_CAP_S` for the app's Batch and Table clients
(shared/adapters/azure_call_bounds.py says why); shared/composition.py builds the clients with them."""

from __future__ import annotations

from typing import Any

from azure.core.pipeline import PipelineResponse
from azure.core.pipeline.policies import RetryPolicy
from azure.data.tables import TableServiceClient
from azure.data.tables._policies import TablesRetryPolicy  # 12.x does not export it publicly

from shared.adapters.azure_call_bounds import RETRY_AFTER_CAP_S, CallBounds


def batch_options(bounds: CallBounds) -> dict[str, Any]:
    """`bounds.options()`, and the retry policy that caps `Retry-After`, with the same total (Tables:
    CappedTableService). Only for azure-core's RetryPolicy: given to a storage client, it would replace the storage
    SDK's own."""
    return bounds.options() | {"retry_policy": RetryAfterCappedPolicy(retry_total=bounds.retries)}


class RetryAfterCappedPolicy(RetryPolicy[Any, Any]):
    """azure-core's RetryPolicy (the Batch client's), sleeping at most `RETRY_AFTER_CAP_S` for a `Retry-After`."""

    def get_retry_after(self, response: PipelineResponse[Any, Any]) -> float | None:
        asked = super().get_retry_after(response)
        return None if asked is None else min(asked, RETRY_AFTER_CAP_S)


class TablesRetryAfterCappedPolicy(TablesRetryPolicy, RetryAfterCappedPolicy):
    """The Tables SDK's own policy (its secondary host handling kept), reading `Retry-After` through the one above."""


class CappedTableService(TableServiceClient):
    """A TableServiceClient whose pipeline, shared by the table clients it hands out, caps `Retry-After`. The Tables
    SDK builds its retry policy itself, from the same keywords, and takes no `retry_policy`: the one it builds is
    swapped for the capped one, given those keywords, so `retry_total` stays the bounds'."""

    def _configure_policies(self, **kwargs: Any) -> list[Any]:
        built = super()._configure_policies(**kwargs)
        capped = TablesRetryAfterCappedPolicy(**kwargs)  # type: ignore[no-untyped-call]
        return [capped if type(policy) is TablesRetryPolicy else policy for policy in built]
