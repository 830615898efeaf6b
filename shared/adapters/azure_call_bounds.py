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
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

HTTP_LIMIT_S = 230  # Azure's front end answers an HTTP trigger still running this long with a gateway error


def core_backoff_s(retry: int) -> float:
    """azure-core's RetryPolicy (Batch, Tables) before retry `retry` (from 1): none, then 0.8 s * 2^(retry - 1)."""
    return 0.0 if retry == 1 else 0.8 * 2.0 ** (retry - 1)


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

    def worst_case_s(self, backoff_s: Callable[[int], float]) -> float:
        """A call that never gets an answer: each try waits out both timeouts, and the retries back off."""
        tries = self.retries + 1
        return tries * (self.connect_s + self.read_s) + sum(backoff_s(n) for n in range(1, tries))


# Every client of the app. In the region a connection opens, and a healthy answer starts, in milliseconds: 5 s to
# connect covers two lost SYNs (Linux resends after 1 and 3 s), and 20 s of silence (against the services' own 30 s
# bound on an operation; a Table query answers within 5 s, with a continuation) is far likelier a stalled connection
# than a slow answer, which a retry on a fresh connection serves better. Two retries ride out a dropped connection
# or a throttled answer. A call that gets no answer then fails TransientError within 77 s (Table, Batch) or 123 s
# (Blob, Queue, whose retries wait about 18 and 24 s), every try and backoff counted. That keeps:
# - an HTTP function under the front end's 230 s;
# - a reconcile run inside host.json's 10-minute functionTimeout: its budget (4 minutes) is checked before each
#   job, the job in hand ends at its first call that gets no answer, and the run then keeps its cursor (7.4 minutes);
# - a record expiry run inside it too: its budget (4 minutes) is checked after each chunk, in which each of the 8
#   workers expires 4 jobs one after another, each ended by its first Table call that gets no answer (9.1 minutes).
APP_CALLS = CallBounds(connect_s=5, read_s=20, retries=2)
# The health checks' own clients: one short try each, so a stalled dependency makes the report `degraded` in
# 15 s, and the whole round (three checks, one after another) holds `/api/health`'s callers at most 45 s.
HEALTH_CHECK_CALLS = CallBounds(connect_s=5, read_s=10, retries=0)
