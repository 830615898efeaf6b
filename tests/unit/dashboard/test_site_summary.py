"""The site summary: counts by state, nearest-rank time to result, reasons, the newest jobs, and its bounds."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.errors import NotFound
from shared.jobs import summary
from shared.jobs.models import Job, JobState
from shared.jobs.summary import WINDOW, SummaryApi, percentile
from tests.unit.jobs.fakes import MemoryJobStore

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def job(n: int, state: JobState, *, seconds: float | None = None, reason: str | None = None) -> Job:
    received = T0 + timedelta(seconds=n)
    finished = received + timedelta(seconds=seconds) if seconds is not None else None
    result = "r/x/result.json" if state is JobState.SUCCEEDED else None
    return Job(f"j_{n:026d}".replace("0", "a"), "yard", "dev", f"p{n}", f"yard/dev/p{n}.jpg", '"0x1"', received,
               state=state, finished_at=finished, reason=reason, result_path=result)  # fmt: skip


class RecordingStore:
    """Answers list_site with the jobs given and remembers what it was asked."""

    def __init__(self, jobs: list[Job], more: str | None = None) -> None:
        self.jobs, self.more = jobs, more
        self.asked: list[dict[str, Any]] = []

    def list_site(self, site, *, state, since, limit, token):
        self.asked.append({"site": site, "state": state, "since": since, "limit": limit, "token": token})
        return self.jobs, self.more

    def site_ids(self, site, *, since, until, limit):
        return [], False

    def get(self, job_id):
        raise NotFound(job_id)


def links(j: Job) -> dict[str, str]:
    return {"overlay": f"https://blob/{j.id}/overlay.jpg"} if j.state is JobState.SUCCEEDED else {}


@pytest.mark.parametrize(
    ("values", "p50", "p95"),
    [([], None, None), ([7], 7, 7), ([1, 2, 3, 4], 2, 4), (list(range(1, 101)), 50, 95), ([5, 1, 3], 3, 5)],
)
def test_percentiles_are_nearest_rank(values, p50, p95):
    assert (percentile(values, 0.5), percentile(values, 0.95)) == (p50, p95)


def test_the_summary_counts_states_times_and_reasons():
    jobs = [
        job(1, JobState.SUCCEEDED, seconds=10),
        job(2, JobState.SUCCEEDED, seconds=20),
        job(3, JobState.SUCCEEDED, seconds=40),
        job(4, JobState.REJECTED, seconds=1, reason="blurry"),
        job(5, JobState.REJECTED, seconds=1, reason="blurry"),
        job(6, JobState.REJECTED, seconds=1, reason="not_an_image"),
        job(7, JobState.FAILED, seconds=300, reason="timed_out"),
        job(8, JobState.QUEUED),
    ]
    doc = summary.summarise("yard", jobs, start=T0, end=T0 + timedelta(hours=1), truncated=False, links=links)
    assert doc["counts"] == {"RECEIVED": 0, "QUEUED": 1, "RUNNING": 0, "SUCCEEDED": 3, "FAILED": 1, "REJECTED": 3}
    # Only SUCCEEDED jobs: the quick rejections and the slow failure leave the figure alone.
    assert doc["time_to_result_ms"] == {"count": 3, "p50": 20_000, "p95": 40_000}
    assert doc["rejections"] == {"blurry": 2, "not_an_image": 1}
    assert doc["failures"] == {"timed_out": 1}
    assert doc["window"] == {"from": "2026-11-22T08:00:00Z", "to": "2026-11-22T09:00:00Z", "seconds": 3600}
    assert (doc["jobs"], doc["truncated"]) == (8, False)


def test_latest_is_the_newest_first_with_overlay_links_and_at_most_a_dozen():
    jobs = [job(n, JobState.SUCCEEDED, seconds=5) for n in range(1, 21)]
    latest = summary.summarise("yard", jobs, start=T0, end=T0, truncated=False, links=links)["latest"]
    assert [d["photo_id"] for d in latest] == [f"p{n}" for n in range(20, 8, -1)]
    assert latest[0]["result"]["links"]["overlay"].endswith("/overlay.jpg")


def test_the_api_reads_one_bounded_hour():
    store = RecordingStore([job(1, JobState.SUCCEEDED, seconds=3)], more="next-row")
    reply = SummaryApi(store, links, clock=lambda: T0 + timedelta(hours=2)).handle("yard")
    assert reply.status == 200 and reply.body is not None
    assert store.asked == [{"site": "yard", "state": None, "since": T0 + timedelta(hours=1),
                            "limit": summary.MAX_JOBS + 1, "token": None}]  # fmt: skip


def test_the_summary_carries_links_so_no_shared_cache_may_keep_it():
    reply = SummaryApi(RecordingStore([job(1, JobState.SUCCEEDED, seconds=3)]), links, clock=lambda: T0).handle("yard")
    assert reply.headers["Cache-Control"] == "private, no-cache"


class CountingStore(MemoryJobStore):
    """The in-memory store, counting the jobs read one by one and the index pages looked at. Like the Table
    store, it gives a continuation token whenever a listing stops at its limit, whether or not more follow."""

    def __init__(self) -> None:
        super().__init__()
        self.reads, self.looks = 0, 0

    def list_site(
        self, site: str, *, state: JobState | None, since: datetime | None, limit: int, token: str | None
    ) -> tuple[list[Job], str | None]:
        jobs, _ = super().list_site(site, state=state, since=since, limit=limit, token=token)  # type: ignore[no-untyped-call]
        return jobs, (jobs[-1].id if len(jobs) == limit else None)

    def get(self, job_id: str) -> Job:
        self.reads += 1
        return super().get(job_id)

    def site_ids(self, site: str, *, since: datetime, until: datetime, limit: int) -> tuple[list[str], bool]:
        self.looks += 1
        assert limit < 1000  # one page of a Table query
        return super().site_ids(site, since=since, until=until, limit=limit)


def busy_hour(store: MemoryJobStore, total: int, end: datetime) -> list[Job]:
    """`total` jobs received over the hour before `end`, oldest first, the newest a second before it."""
    step = (WINDOW - timedelta(seconds=2)) / total
    made = [job(n, JobState.SUCCEEDED, seconds=2) for n in range(total)]
    made = [replace(j, received_at=end - timedelta(seconds=1) - step * (total - 1 - n)) for n, j in enumerate(made)]
    for j in made:
        store.create(j)
    return made


@pytest.mark.parametrize(("total", "truncated"), [(summary.MAX_JOBS, False), (summary.MAX_JOBS + 1, True), (800, True)])
def test_truncated_only_when_jobs_were_left_out_and_latest_are_the_hours_newest(total, truncated):
    end = T0 + timedelta(hours=1)
    store = CountingStore()
    made = busy_hour(store, total, end)
    doc = SummaryApi(store, links, clock=lambda: end).handle("yard").body
    assert doc is not None and doc["truncated"] is truncated
    assert doc["jobs"] == min(total, summary.MAX_JOBS)
    assert [d["id"] for d in doc["latest"]] == [j.id for j in reversed(made[-summary.LATEST :])]
    assert store.reads <= summary.LATEST and store.looks <= 8  # the newest found from index keys, not by reading all


def test_the_newest_are_found_in_one_page_looks_whatever_the_burst():
    # 3,000 ids in the last 50 ms of the hour after 5 spread over it: the looks must narrow past the burst.
    end = T0 + timedelta(hours=1)
    times = [T0 + timedelta(minutes=10 * n) for n in range(5)]
    times += [end - timedelta(milliseconds=50) + timedelta(microseconds=10 * n) for n in range(3000)]
    looked: list[datetime] = []

    def look(since: datetime) -> tuple[list[str], bool]:
        looked.append(since)
        found = [str(n) for n, at in enumerate(times) if since <= at < end]
        return found[: summary.PAGE], len(found) > summary.PAGE

    assert summary.newest_ids(look, T0, end, 12) == [str(n) for n in range(len(times) - 12, len(times))]
    assert len(looked) <= summary.MAX_LOOKS
    assert summary.newest_ids(look, end - timedelta(minutes=1), end - timedelta(seconds=30), 12) == []


@pytest.mark.parametrize("site", ["", "-lead", "a/b", "x" * 65, "s p"])
def test_a_bad_site_is_a_400_before_any_read(site):
    store = RecordingStore([])
    reply = SummaryApi(store, links, clock=lambda: T0).handle(site)
    assert reply.status == 400 and reply.body is not None and reply.body["reason"] == "invalid_site"
    assert store.asked == []
