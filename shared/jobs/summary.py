"""`GET /sites/{site}/summary`: one site's last hour at a glance, for dashboards.

What it costs is bounded on purpose: the jobs table has no counters, so the summary reads the site index
for the last `WINDOW` (one range query) and each job it names (one point read each), and stops after
`MAX_JOBS`. A site with more photos than that in an hour gets `truncated: true`, and the figures describe
the oldest `MAX_JOBS` of the hour; such a site needs counters kept at write time instead.

Time to result is `finished_at - received_at` of the jobs received in the window that SUCCEEDED (a
rejection is decided in seconds and would flatter the figure); percentiles are nearest-rank.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from shared.errors import InvalidInput, SitelensError
from shared.http_reply import Reply
from shared.jobs import document
from shared.jobs.models import Job, JobState
from shared.uploads.naming import ID

WINDOW = timedelta(hours=1)
MAX_JOBS = 500
LATEST = 12  # the newest jobs shown with their overlay and text


def percentile(values: Sequence[int], fraction: float) -> int | None:
    """Nearest-rank percentile: the smallest value with at least `fraction` of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


def summarise(site: str, jobs: Sequence[Job], *, start: datetime, end: datetime, truncated: bool,
              links: Callable[[Job], dict[str, str]]) -> dict[str, Any]:  # fmt: skip
    """The summary document of `jobs` (received in [start, end), oldest first)."""
    counts = Counter(j.state.value for j in jobs)
    durations = [j.latency_ms for j in jobs if j.state is JobState.SUCCEEDED and j.latency_ms is not None]
    return {
        "site": site,
        "window": {"from": _iso(start), "to": _iso(end), "seconds": int((end - start).total_seconds())},
        "jobs": len(jobs),
        "truncated": truncated,
        "counts": {state.value: counts.get(state.value, 0) for state in JobState},
        "time_to_result_ms": {
            "count": len(durations),
            "p50": percentile(durations, 0.50),
            "p95": percentile(durations, 0.95),
        },
        "rejections": _by_reason(jobs, JobState.REJECTED),
        "failures": _by_reason(jobs, JobState.FAILED),
        "latest": [document.public(j, links(j)) for j in reversed(jobs[-LATEST:])],
    }


def _by_reason(jobs: Sequence[Job], state: JobState) -> dict[str, int]:
    return dict(sorted(Counter(j.reason or "unknown" for j in jobs if j.state is state).items()))


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


class SiteListing(Protocol):  # the one JobStore method the summary needs
    def list_site(
        self, site: str, *, state: JobState | None, since: datetime | None, limit: int, token: str | None
    ) -> tuple[list[Job], str | None]: ...


class SummaryApi:
    def __init__(
        self, store: SiteListing, links: Callable[[Job], dict[str, str]], clock: Callable[[], datetime]
    ) -> None:
        self.store, self.links, self.clock = store, links, clock

    def handle(self, site: str) -> Reply:
        try:
            if not ID.fullmatch(site):
                raise InvalidInput("'site' must be 1-64 ASCII letters, digits, '_' or '-'", reason="invalid_site")
            end = self.clock()
            start = end - WINDOW
            jobs, more = self.store.list_site(site, state=None, since=start, limit=MAX_JOBS, token=None)
            doc = summarise(site, jobs, start=start, end=end, truncated=more is not None, links=self.links)
            return Reply(200, doc, {"Cache-Control": "no-cache"})
        except SitelensError as exc:
            return Reply.error(exc)
