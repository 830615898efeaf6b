"""`sitelens jobs list --site` and `watch --site` against a site with a long history: they ask the API for a
window of it (`since`), not for every job the site ever had. `list` shows the last 24 h unless `--since`
(how long ago, or a time) or `--all` says otherwise; `watch`'s first poll looks 48 h back, since every job
has ended within 24 h of its receipt. The API stand-in filters and pages as `GET /api/jobs` does."""

from __future__ import annotations

import argparse
import io
import threading
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sitelens import jobs_command
from sitelens.api_client import ApiClient
from sitelens.cli import build_parser

PAGE = 100  # the CLI's page size (`ApiClient.site_jobs`)


def job(n: int, state: str, at: datetime) -> dict[str, Any]:
    return {"id": f"j_{n:026d}", "state": state, "site": "yard", "reason": None, "cached": False,
            "timings": {"received_at": at.isoformat().replace("+00:00", "Z")}}  # fmt: skip


def month_of_history(now: datetime) -> list[dict[str, Any]]:
    """A photo every 15 minutes for 30 days, all ended, oldest first; none within minutes of a day's boundary."""
    ages = [timedelta(minutes=15 * k + 7) for k in range(30 * 24 * 4)]
    return [job(n, "SUCCEEDED", now - age) for n, age in enumerate(reversed(ages))]


@dataclass(frozen=True)
class SiteListing(ApiClient):
    """`GET /jobs?site=` as the API answers it: the jobs received at or after `since`, oldest first, `limit` a
    page, a continuation while more follow. `asked` records each request's query."""

    jobs: list[dict[str, Any]] = field(default_factory=list)
    asked: list[dict[str, str]] = field(default_factory=list)

    def get(self, path: str) -> dict[str, Any]:
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(path).query))
        self.asked.append(query)
        since = datetime.fromisoformat(query["since"]) if "since" in query else None
        listed = [j for j in self.jobs if since is None or datetime.fromisoformat(j["timings"]["received_at"]) >= since]
        start = int(query.get("continuation", "0"))
        end = start + int(query["limit"])
        return {"jobs": listed[start:end], "continuation": str(end) if end < len(listed) else None}


def listing(jobs: list[dict[str, Any]]) -> SiteListing:
    return SiteListing("http://127.0.0.1:9/api", None, jobs)


def parsed(*argv: str) -> argparse.Namespace:
    argv = ("jobs", *argv)
    return build_parser(argv).parse_args(argv)


def sitelens_jobs_list(api: SiteListing, *argv: str) -> str:
    out = io.StringIO()
    assert jobs_command.list_jobs(api, parsed("list", "--site", "yard", *argv), out) == 0
    return out.getvalue()


def since_asked(api: SiteListing) -> datetime | None:
    text = api.asked[0].get("since")
    return datetime.fromisoformat(text) if text else None


def test_list_shows_the_last_day_by_default_in_one_request_however_long_the_history() -> None:
    before = datetime.now(UTC)
    api = listing(month_of_history(before))
    out = sitelens_jobs_list(api)
    after = datetime.now(UTC)
    since = since_asked(api)
    assert since is not None and before - timedelta(hours=24) <= since <= after - timedelta(hours=24)
    assert len(api.asked) == 1  # 96 jobs: one page, not the 29 pages of the whole month
    assert out.splitlines()[-1] == f"96 job(s) received since {since:%Y-%m-%dT%H:%M:%SZ}"


@pytest.mark.parametrize(("argv", "shown"), [(["--since", "7d"], 7 * 96), (["--since", "90m"], 6), (["--all"], 2880)])
def test_list_reads_as_far_back_as_asked(argv: list[str], shown: int) -> None:
    api = listing(month_of_history(datetime.now(UTC)))
    out = sitelens_jobs_list(api, *argv)
    assert out.splitlines()[-1].split(" job(s)")[0] == str(shown)
    assert len(api.asked) == -(-shown // PAGE)
    assert ("since" in api.asked[0]) == (argv != ["--all"])


@pytest.mark.parametrize(
    ("when", "sent"),
    [
        ("2026-11-22T09:00:00+01:00", "2026-11-22T08:00:00.000000Z"),
        ("2026-11-22T08:00:00Z", "2026-11-22T08:00:00.000000Z"),
        ("2026-11-22", "2026-11-22T00:00:00.000000Z"),  # no zone: UTC, as every time the API shows
        ("2026-11-22T08:00", "2026-11-22T08:00:00.000000Z"),
        ("0001-01-01", "0001-01-01T00:00:00.000000Z"),  # the year in four digits, as RFC 3339 has it
        ("0026-11-22T18:00+10:00", "0026-11-22T08:00:00.000000Z"),
    ],
)
def test_list_since_a_time_sends_it_to_the_api_in_utc(when: str, sent: str) -> None:
    api = listing([])
    out = sitelens_jobs_list(api, "--since", when, "--state", "FAILED", "--json")
    assert out == "[]\n"
    assert api.asked == [{"site": "yard", "limit": str(PAGE), "since": sent, "state": "FAILED"}]
    shown = sitelens_jobs_list(listing([]), "--since", when).splitlines()[-1]
    assert shown == f"0 job(s) received since {sent[:19]}Z"  # the table's last line, to the second


NOT_A_TIME = "not a time or a duration"


@pytest.mark.parametrize(
    ("argv", "said"),
    [(["--since", "yesterday"], NOT_A_TIME), (["--since", "7w"], NOT_A_TIME), (["--since", "h"], NOT_A_TIME),
     (["--since", "7d", "--all"], "not allowed with argument --since")],
)  # fmt: skip
def test_a_since_that_is_no_time_nor_duration_or_comes_with_all_is_a_usage_error(
    argv: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        parsed("list", "--site", "yard", *argv)
    assert exit_.value.code == 2 and said in capsys.readouterr().err


class StopAfter(threading.Event):
    """`watch`'s pause between polls, not taken: the watch ends after `polls` polls."""

    def __init__(self, polls: int) -> None:
        super().__init__()
        self.polls = polls

    def wait(self, timeout: float | None = None) -> bool:
        self.polls -= 1
        return self.polls <= 0


def test_watch_of_a_site_first_reads_two_days_of_a_long_history_not_all_of_it() -> None:
    before = datetime.now(UTC)
    api = listing([*month_of_history(before), job(99_999, "RUNNING", before - timedelta(minutes=3))])
    out = io.StringIO()
    args = parsed("watch", "--site", "yard")
    assert jobs_command.watch(api, args, out, StopAfter(polls=1), err=io.StringIO()) == 0
    after = datetime.now(UTC)
    since = since_asked(api)
    assert since is not None and before - timedelta(hours=48) <= since <= after - timedelta(hours=48)
    assert len(api.asked) == 2  # the 192 jobs of the last 48 h and the running one, not the month's 29 pages
    assert out.getvalue() == f"j_{99_999:026d} RUNNING\n"


def test_watch_of_a_quiet_site_keeps_asking_for_two_days_not_for_its_history() -> None:
    before = datetime.now(UTC)
    old = [job(n, "SUCCEEDED", before - timedelta(days=3 + n)) for n in range(300)]
    api = listing(old)
    err = io.StringIO()
    assert jobs_command.watch(api, parsed("watch", "--site", "yard"), io.StringIO(), StopAfter(polls=3), err=err) == 0
    assert len(api.asked) == 3 and all("since" in query for query in api.asked)
    assert "no job of yard is in flight" in err.getvalue()


def test_watch_since_reaches_a_job_still_in_flight_from_before_the_default_two_days() -> None:
    """A deployment that gives up on jobs later than a day can leave one in flight for longer: `--since` reaches it."""
    now = datetime.now(UTC)
    running = job(99_998, "RUNNING", now - timedelta(hours=50))
    for extra, seen in (((), ""), (("--since", "3d"), f"j_{99_998:026d} RUNNING\n")):
        out = io.StringIO()
        args = parsed("watch", "--site", "yard", *extra)
        jobs_command.watch(listing([running]), args, out, StopAfter(polls=1), err=io.StringIO())
        assert out.getvalue() == seen
