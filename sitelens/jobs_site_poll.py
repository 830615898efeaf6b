"""`sitelens jobs watch --site`'s polls of the status API (docs/field.md): the site's listing, read from a window
that moves on with the newest job listed, and a `GET` for each watched job still in flight that it did not show.
`jobs_command.watch` calls one at each poll and prints what changed; the exit code is its to decide."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, TextIO

from sitelens.api_client import ApiClient

TERMINAL = ("SUCCEEDED", "FAILED", "REJECTED")
# The site's listing is ordered by received time, but a job can enter it after a newer one did (ingestion on
# several instances, their clocks apart): `watch --site` lists again from this long before the newest it saw.
LATE = timedelta(seconds=60)


class SitePoll:
    """`watch --site`'s polls. The first lists the jobs since `first` and sets apart those already terminal,
    which are history; later ones ask only for what can have changed: the jobs received from `LATE` before the
    newest one listed (`since`), and each watched job still in flight that this listing did not show (its GET)."""

    def __init__(self, client: ApiClient, site: str, seen: dict[str, str], err: TextIO, first: datetime) -> None:
        self.client, self.site, self.seen, self.err, self.first = client, site, seen, err, first
        self.history: set[str] | None = None  # ids terminal at the start; None until the first listing answered
        self.newest: datetime | None = None  # received time of the newest job listed

    def __call__(self) -> tuple[list[dict[str, Any]], float | None]:
        since = self.newest - LATE if self.newest else self.first
        listed = self.client.site_jobs(self.site, since=since)
        shown = {job["id"] for job in listed}
        fetched: list[dict[str, Any]] = []
        waits: list[float] = []  # each in-flight job's answer asks for its own Retry-After
        for job_id, state in self.seen.items():
            if state not in TERMINAL and job_id not in shown:
                _, doc, wait = self.client.exchange("GET", f"/jobs/{job_id}")
                fetched.append(doc)
                waits += [wait] if wait else []
        # Only now that every call has answered: a poll cut short is asked again whole.
        if self.history is None:
            self.history = {job["id"] for job in listed if job["state"] in TERMINAL}
            if len(self.history) == len(listed):
                self.err.write(f"no job of {self.site} is in flight: waiting for the next one\n")
        self.newest = max((t for t in (self.newest, *map(_received, listed)) if t), default=None)
        return [job for job in listed if job["id"] not in self.history] + fetched, max(waits, default=None)


def _received(job: dict[str, Any]) -> datetime | None:
    text = (job.get("timings") or {}).get("received_at")
    return datetime.fromisoformat(text) if text else None
