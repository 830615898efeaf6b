"""How long one Azure SDK call may take: the bounds shared/composition.py gives every client the app builds.

The SDKs' own defaults bound nothing the app's budgets can live with. A connection that is accepted and never
answered (a dropped flow, a hung front end) held a Table or Batch call 300 s a try, four tries (about 20
minutes), and a Blob or Queue call 60 s a try (about 5 minutes). The budgets are checked between pieces of work
(the reconciler's `RUN_BUDGET`, record expiry's), so one such call kept a timer run past host.json's 10-minute
`functionTimeout`, which in Azure restarts the worker under every invocation on it, and kept an HTTP function
running far past the front end's 230 s.

The read timeout bounds each wait for the next bytes, not a transfer: a 40 MiB photo that keeps arriving is never
cut off, and a download the SDK streams in chunks waits at most this long for each read of each chunk. The connect
timeout also bounds each write of a request: over TLS (Azure) each send, which goes on as long as the network takes
bytes; over plain HTTP (Azurite) the send of a whole body, a fraction of a second on loopback even at 64 MiB.

A throttled answer bounds nothing either: azure-core's RetryPolicy (Batch, Tables) sleeps whatever a `Retry-After`
asks before its retry, uncapped (its 120 s maximum is its own backoff's), and a `Retry-After` makes even a POST (a
Batch task's creation) retryable. Batch throttles with 429 or 503 and a `Retry-After` of its choosing, Table storage
answers 503 Server Busy to a partition under load: at 600 s, one call slept 20 minutes. So the app's Batch and Table
clients sleep at most `RETRY_AFTER_CAP_S` for one, and still retry (shared/adapters/azure_retry_caps.py). This
module imports no SDK: the settings read its bounds. The storage SDKs' own ExponentialRetry (Blob,
Queue) never reads `Retry-After`: it sleeps its own backoff, which is counted below.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

HTTP_LIMIT_S = 230  # Azure's front end answers an HTTP trigger still running this long with a gateway error
# The longest the app's Batch and Table clients sleep for a `Retry-After` before their retry, whatever it asks: a
# throttled service mostly asks for seconds, and a call that still fails then leaves the wait to the caller's own
# retry (a queue message's visibility, the next timer run), which holds no function open meanwhile.
RETRY_AFTER_CAP_S = 10.0


def core_backoff_s(retry: int) -> float:
    """azure-core's RetryPolicy (Batch, Tables) before retry `retry` (from 1): none, then 0.8 s * 2^(retry - 1)."""
    return 0.0 if retry == 1 else 0.8 * 2.0 ** (retry - 1)


def core_wait_s(retry: int) -> float:
    """What azure-core's RetryPolicy (Batch, Tables) sleeps before retry `retry`, at most: its backoff when the
    answer asked for no wait, else the answer's `Retry-After`, capped. One or the other; both are counted."""
    return core_backoff_s(retry) + RETRY_AFTER_CAP_S


def storage_backoff_s(retry: int) -> float:
    """The storage SDKs' ExponentialRetry (Blob, Queue), at most: 15 s + 3^retry, jittered by up to 3 s."""
    return 15.0 + 3.0**retry + 3.0


@dataclass(frozen=True)
class CallBounds:
    connect_s: float  # to open a connection, and for each write of the request (urllib3 sends under it)
    read_s: float  # for each read of the answer
    retries: int  # after the first try; retries back off, SDK by SDK (above)

    def options(self) -> dict[str, Any]:
        """The keyword arguments every client constructor takes: azure-core's transport reads the two timeouts
        (ConnectionConfiguration), and each SDK's retry policy reads `retry_total`."""
        return {"connection_timeout": self.connect_s, "read_timeout": self.read_s, "retry_total": self.retries}

    def worst_case_s(self, wait_s: Callable[[int], float]) -> float:
        """A call that gets no answer, or a throttled one: each try waits out both timeouts (a throttled answer may
        come just before the read timeout), and each retry first waits what `wait_s` says, SDK by SDK."""
        tries = self.retries + 1
        return tries * (self.connect_s + self.read_s) + sum(wait_s(n) for n in range(1, tries))


# Every client of the app. In the region a connection opens, and a healthy answer starts, in milliseconds: 5 s to
# connect covers two lost SYNs (Linux resends after 1 and 3 s), and 20 s of silence (against the services' own 30 s
# bound on an operation; a Table query answers within 5 s, with a continuation) is far likelier a stalled connection
# than a slow answer, which a retry on a fresh connection serves better. Two retries ride out a dropped connection
# or a throttled answer. A call that gets no answer, or only throttled ones, then fails TransientError within 97 s
# (Table, Batch, whose retries wait 10 s for a `Retry-After` and back off up to 1.6 s) or 123 s (Blob, Queue, whose
# retries wait about 18 and 24 s), every try and wait counted. That keeps:
# - an HTTP function under the front end's 230 s;
# - a reconcile run inside host.json's 10-minute functionTimeout: its budget (4 minutes) is checked before each
#   job, the job in hand ends at its first call that gets no answer, and the run then keeps its cursor (7.7 minutes);
# - a record expiry run inside it too: each of its 8 workers checks its budget (4 minutes) before each job it
#   starts, and a job started just before ends at its first Table call that gets no answer (5.7 minutes).
APP_CALLS = CallBounds(connect_s=5, read_s=20, retries=2)
# The health checks' own clients: one short try each, so a stalled dependency makes the report `degraded` in
# 15 s, and the whole round (three checks, one after another) holds `/api/health`'s callers at most 45 s.
HEALTH_CHECK_CALLS = CallBounds(connect_s=5, read_s=10, retries=0)
