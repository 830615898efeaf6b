"""The node server's warm-up: every model of `SITELENS_WARM_MODELS` loaded (downloaded first, if need be) and
warmed before the server reports ready, and a failure that may pass tried again.

A node boots while storage or its identity endpoint may briefly not answer (a model download's 503 past the SDK's
own retries, a token request that times out). Such a failure is transient by its code (`batch_tasks.errors.CODES`):
the warm-up tries the model again with a growing delay, within `RETRY_WITHIN_S` of its start, rather than report
ready without it (the start task would then fail the node, and nothing would load the model again). A failure that
no retry can mend (an unknown version, a kind this package does not serve) is given up at once. Models are tried in
their order, each until it loads or is given up, so the models last warmed are those the cache keeps.

A version whose files are in place but that did not load is not loaded again by the registry for a minute
(`RETRY_FAILED_LOAD_S`), so it is not tried again here: a fresh server, which the start task starts when it finds
one ready without a warm model, tries it anew. Only a failure to fetch it (storage, the identity) is retried.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from batch_tasks.errors import NodeError
from batch_tasks.node.registry import Registry

log = logging.getLogger("batch_tasks.server")
# Seconds between one warm model's attempts: five retries, 31 s of waiting for a failure that comes at once.
RETRY_DELAYS_S = (1.0, 2.0, 4.0, 8.0, 16.0)
# No retry starts this long after the warm-up began: an attempt may itself take a minute (the storage SDK's own
# retries of a 503 take about that), so the warm-up ends within a few minutes, well inside the start task's wait
# (`--timeout`, 600 s by default), which still sees the server ready and says which model is missing.
RETRY_WITHIN_S = 120.0

Sleep = Callable[[float], Awaitable[None]]


async def warm_up(
    registry: Registry,
    model_ids: Sequence[str],
    *,
    sleep: Sleep = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, NodeError]:
    """Load and warm each model in turn; returns the models given up on, with their last error (logged)."""
    started = clock()
    given_up: dict[str, NodeError] = {}
    for model_id in model_ids:
        for delay in (*RETRY_DELAYS_S, None):
            try:
                registry.release(await registry.held(model_id))
                break
            except NodeError as exc:
                hopeless = not exc.transient or registry.failed_to_load(model_id)  # a load fails the same again
                if hopeless or delay is None or clock() + delay - started > RETRY_WITHIN_S:
                    # Its photos fail with the code when they come; the other models serve.
                    log.error("model %s is not served: %s (%s)", model_id, exc.message, exc.code)
                    given_up[model_id] = exc
                    break
                log.warning("warm model %s did not load (%s: %s); trying again in %g s", model_id, exc.code,
                            exc.message, delay)  # fmt: skip
                await sleep(delay)
    return given_up
