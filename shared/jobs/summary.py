"""`GET /sites/{site}/summary`: one site's last hour at a glance, for dashboards.

What it costs is bounded on purpose: the jobs table has no counters, so the summary reads the site index
for the last `WINDOW` (one range query) and each job it names (one point read each), and stops after
`MAX_JOBS`. A site with more photos than that in an hour gets `truncated: true`, and the figures describe
the oldest `MAX_JOBS` of the hour; such a site needs counters kept at write time instead. Its `latest`
are still the hour's newest: the index lists a site oldest first only, so `newest_ids` looks back from
the end of the hour in windows of index keys, one page each, and only those jobs are read.

Time to result is `finished_at - received_at` of the jobs received in the window that SUCCEEDED (a
rejection is decided in seconds and would flatter the figure); percentiles are nearest-rank.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from shared.errors import InvalidInput, NotFound, SitelensError, UnknownJobState
from shared.http_reply import Reply
from shared.jobs import document
from shared.jobs.models import Job, JobState
from shared.uploads.naming import ID

log = logging.getLogger(__name__)
WINDOW = timedelta(hours=1)
MAX_JOBS = 500
LATEST = 12  # the newest jobs shown with their overlay and text
PAGE = 999  # index keys one look of `newest_ids` reads: with the one that says "more", one Table page
FIRST_LOOK = timedelta(seconds=10)
MAX_LOOKS = 48  # widening from 10 s to an hour, then halving down to microseconds, fits well within


def percentile(values: Sequence[int], fraction: float) -> int | None:
    """Nearest-rank percentile: the smallest value with at least `fraction` of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


def summarise(site: str, jobs: Sequence[Job], *, start: datetime, end: datetime, truncated: bool,
              links: Callable[[Job], dict[str, str]],
              latest: Sequence[Job] | None = None) -> dict[str, Any]:  # fmt: skip
    """The summary document of `jobs` (received in [start, end), oldest first); `latest`, oldest first, are
    the newest jobs of the window when `jobs` are not all of it (default: the last of `jobs`)."""
    newest = jobs[-LATEST:] if latest is None else latest[-LATEST:]
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
        "latest": [document.public(j, links(j)) for j in reversed(newest)],
    }


def _by_reason(jobs: Sequence[Job], state: JobState) -> dict[str, int]:
    return dict(sorted(Counter(j.reason or "unknown" for j in jobs if j.state is state).items()))


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def newest_ids(look: Callable[[datetime], tuple[list[str], bool]], start: datetime, end: datetime,
               want: int) -> list[str]:  # fmt: skip
    """The ids of the `want` newest jobs received in [start, end), oldest first. `look(since)` gives the ids
    received in [since, end), oldest first, at most a page, and whether more follow.

    A window ending at `end` is widened (doubled) while it holds fewer than `want` and narrowed (halved back
    towards the last window that held too few) while it holds more than a page, until it holds between
    the two: a few looks of one page each, whatever the hour's traffic.
    """
    too_few, too_many = end, None  # windows starting at these held fewer than `want`, more than a page
    since, best = max(start, end - FIRST_LOOK), list[str]()
    for _ in range(MAX_LOOKS):
        ids, more = look(since)
        if not more and (len(ids) >= want or since == start):
            return ids[-want:]
        if more:
            too_many = since
        else:
            too_few, best = since, ids
        since = max(start, end - 2 * (end - since)) if too_many is None else too_many + (too_few - too_many) / 2
    return best  # more than a page within a microsecond: the newest found, if fewer than `want`


class SiteListing(Protocol):  # the JobStore methods the summary needs
    def list_site(
        self, site: str, *, state: JobState | None, since: datetime | None, limit: int, token: str | None
    ) -> tuple[list[Job], str | None]: ...
    def site_ids(self, site: str, *, since: datetime, until: datetime, limit: int) -> tuple[list[str], bool]: ...
    def get(self, job_id: str) -> Job: ...


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
            # One more than the bound: a continuation token alone does not say that a job was left out.
            jobs, _ = self.store.list_site(site, state=None, since=start, limit=MAX_JOBS + 1, token=None)
            truncated = len(jobs) > MAX_JOBS
            latest = self._newest(site, start, end) if truncated else None
            doc = summarise(site, jobs[:MAX_JOBS], start=start, end=end, truncated=truncated, links=self.links,
                            latest=latest)  # fmt: skip
            return Reply(200, doc, {"Cache-Control": document.LINKS_CACHE_CONTROL})
        except SitelensError as exc:
            return Reply.error(exc)

    def _newest(self, site: str, start: datetime, end: datetime) -> list[Job]:
        def look(since: datetime) -> tuple[list[str], bool]:
            return self.store.site_ids(site, since=since, until=end, limit=PAGE)

        jobs = []
        for job_id in newest_ids(look, start, end, LATEST):
            try:
                jobs.append(self.store.get(job_id))
            except NotFound:  # gone since the index was read
                continue
            except UnknownJobState as exc:  # a newer release's row: left out, as the site's listing leaves it out
                log.warning("site summary of %s: %s", site, exc)
                continue
        return jobs
