"""JobStore on Azure Table storage (one table, `jobs`, five kinds of entity).

| entity | PartitionKey | RowKey | written |
|---|---|---|---|
| the job | job id | `job` | create-if-absent, then replace-if-ETag-matches |
| site index | `site~{site}` | `{received_at}~{job id}` | after the job, if absent (immutable) |
| open index | `open` | job id | after the job; deleted once terminal and published |
| content claim | `content~{site}~{sha256}~{model name}~{version}` | `owner` / `follower~{job id}` | create-if-absent |
| reconcile cursor | `reconcile` | `cursor` | replaced by each reconcile run that moves it |

The job is read by id in one point read; a site's jobs are listed from its index in time order. The open
index is what the reconciler reads, so a sweep never scans finished work; it walks the index in RowKey (job id)
order, and the cursor is the last job a run that stopped at its budget reached. A claim's `owner` is replaced
(if its ETag matches) only by a job taking over from an owner whose result is about to expire. Feedback goes to
`jobfeedback` (shared/adapters/azure_feedback_store.py). An operator's erasure of a photo (shared/jobs/erasure.py)
deletes a job's rows of every kind.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import fields, replace
from datetime import UTC, datetime
from typing import Any

from azure.core import MatchConditions
from azure.data.tables import TableClient, TableServiceClient, UpdateMode

from shared.adapters.azure_erasure import erase_rows, same_content
from shared.adapters.azure_errors import call, translated
from shared.adapters.azure_feedback_store import TableFeedback
from shared.errors import Conflict, InvalidInput, NotFound, UnknownJobState
from shared.jobs import ids
from shared.jobs.models import Job, JobState

log = logging.getLogger(__name__)
JOBS, FEEDBACK = "jobs", "jobfeedback"
_JSON_FIELDS = ("quality", "summary")
_TIME_FIELDS = ("received_at", "queued_at", "started_at", "finished_at")
CURSOR_ROW = ("reconcile", "cursor")  # a partition of its own: no index query reads it
SITE_ROW = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z~(?P<job>[^~]+)")  # time_key~job id
# Index entries one listing page reads at most, each with one point read of its job: a `state` that few jobs
# match would otherwise read a site's whole history in one request. The page then holds fewer than `limit` jobs
# (even none) and a continuation at the last entry read, which the client follows.
SCANNED_PER_PAGE = 1_000


def time_key(at: datetime) -> str:
    """Fixed-width UTC text, so RowKeys sort as the times do. The year is padded here: strftime's %Y is not below
    year 1000 on glibc, and `since=0026-…` (a date the API reads) would bound the listing by "26-…"."""
    utc = at.astimezone(UTC)
    return f"{utc.year:04d}-{utc:%m-%dT%H:%M:%S.%f}Z"


def to_entity(job: Job) -> dict[str, Any]:
    entity: dict[str, Any] = {"PartitionKey": job.id, "RowKey": "job"}
    for name, value in vars(job).items():
        if name in ("id", "etag") or value is None:
            continue
        if name in _JSON_FIELDS:
            entity[name] = json.dumps(value, sort_keys=True)
        elif name in _TIME_FIELDS:
            entity[name] = value.isoformat()
        elif isinstance(value, JobState):
            entity[name] = value.value
        else:
            entity[name] = value
    return entity


def from_entity(entity: Any) -> Job:
    """The job a row holds. A row may come from a newer release (read after a rollback, or by an older instance
    beside a newer one): properties `Job` does not declare are ignored, and a state this release does not know
    is UnknownJobState, that job's error alone."""
    declared = {f.name for f in fields(Job)} - {"id", "etag"}  # those two come from the keys and the metadata
    values: dict[str, Any] = {k: v for k, v in entity.items() if k in declared}
    for name in _JSON_FIELDS:
        values[name] = json.loads(values[name]) if values.get(name) else {}
    for name in _TIME_FIELDS:
        if values.get(name):
            values[name] = datetime.fromisoformat(values[name])
    try:
        values["state"] = JobState(values["state"])
    except ValueError as exc:
        raise UnknownJobState(f"job {entity['PartitionKey']} is {values['state']!r}, a state this release "
                              "does not know (a newer release wrote it)") from exc  # fmt: skip
    return Job(id=entity["PartitionKey"], etag=str(entity.metadata["etag"]), **values)


class TableJobStore:
    def __init__(self, service: TableServiceClient, prefix: str = "") -> None:
        self._jobs: TableClient = call("jobs table", service.create_table_if_not_exists, prefix + JOBS)
        self._feedback = TableFeedback(service, prefix + FEEDBACK, self.get)

    def _insert(self, entity: dict[str, Any], what: str) -> bool:
        try:
            call(what, self._jobs.create_entity, entity)
        except Conflict:
            return False
        return True

    def create(self, job: Job) -> Job | None:
        """Insert the job if absent, then its index entries; None when it existed.

        The indexes follow the job and are re-ensured on every duplicate create, so a crash between the
        job and its indexes is repaired by the next delivery of the same blob (which always comes: the
        crashed delivery was never completed) while the job is unfinished, and by the reconciler before it
        moves a RECEIVED job on (a retry's job has no delivery; a late one finds the job ended).
        """
        if self._insert(to_entity(job), f"job {job.id}"):
            self._index(job)
            return self.get(job.id)
        self._index(self.get(job.id))
        return None

    def _index(self, job: Job) -> None:
        if not (job.terminal and job.event_published):
            self._insert({"PartitionKey": "open", "RowKey": job.id, "received_at": job.received_at.isoformat()}, "open")
        self._insert({"PartitionKey": f"site~{job.site}", "RowKey": f"{time_key(job.received_at)}~{job.id}",
                      "job_id": job.id}, "site index")  # fmt: skip

    def get(self, job_id: str) -> Job:
        return from_entity(call(f"job {job_id}", self._jobs.get_entity, job_id, "job"))

    def update(self, job: Job) -> Job:
        if job.etag is None:
            raise Conflict(f"job {job.id} was never read from the store")
        meta = call(f"job {job.id}", self._jobs.update_entity, to_entity(job), mode=UpdateMode.REPLACE,
                     etag=job.etag, match_condition=MatchConditions.IfNotModified)  # fmt: skip
        return replace(job, etag=str(meta["etag"]))

    def list_site(
        self, site: str, *, state: JobState | None, since: datetime | None, limit: int, token: str | None
    ) -> tuple[list[Job], str | None]:
        """Jobs of `site` received at or after `since`, oldest first; `token` is the last RowKey read.

        At most SCANNED_PER_PAGE index entries (or `limit`, if more) are read per page, so with `state` a page may
        hold fewer than `limit` jobs, even none, and still a token. A token that is not a site-index RowKey is
        refused (InvalidInput), so a forged or garbled one can never restart the listing from the first page.
        A job in a state this release does not know (a newer release's) is left out and logged, not the page failed.
        """
        if token is not None:
            row = SITE_ROW.fullmatch(token)
            if row is None or not ids.is_job_id(row["job"]):
                raise InvalidInput("'continuation' is not a token this API gave", reason="bad_query")
        lower = max(token or "", time_key(since) if since else "")  # a token never reaches back before `since`
        budget = max(SCANNED_PER_PAGE, limit)  # a page without `state` always fills
        query = "PartitionKey eq @pk and RowKey gt @rk"
        entries = call("site index", self._jobs.query_entities, query, parameters={"pk": f"site~{site}", "rk": lower})
        jobs: list[Job] = []
        last: str | None = None
        with translated("site index"):  # index pages are fetched while iterating: translated like any other call
            for scanned, entry in enumerate(itertools.islice(entries, budget), start=1):
                last = entry["RowKey"]  # read, matched or not: the next page starts after it
                try:
                    job = self.get(entry["job_id"])
                    if state is None or job.state is state:
                        jobs.append(job)
                except NotFound:  # an entry whose job is gone
                    pass
                except UnknownJobState as exc:  # a newer release's job: left out, so the others still list
                    log.warning("listing site %s leaves out a job: %s", site, exc)
                if len(jobs) == limit or scanned == budget:
                    return jobs, last
        return jobs, None

    def site_ids(self, site: str, *, since: datetime, until: datetime, limit: int) -> tuple[list[str], bool]:
        """Ids of the jobs of `site` received in [since, until), oldest first, at most `limit`, and whether
        more follow. Reads the site index only (its keys, no job): `limit` below 1,000 keeps it to one page."""
        query = "PartitionKey eq @pk and RowKey gt @lo and RowKey lt @hi"
        bounds = {"pk": f"site~{site}", "lo": time_key(since), "hi": time_key(until)}  # `time~id` > `time`
        with translated("site index"):  # the page is fetched while iterating
            entries = self._jobs.query_entities(query, parameters=bounds, select=["job_id"],
                                                results_per_page=limit + 1)  # fmt: skip
            found = [str(entry["job_id"]) for entry in itertools.islice(entries, limit + 1)]
        return found[:limit], len(found) > limit

    def ping(self) -> None:
        """One cheap read, for health checks."""
        call("jobs table", lambda: next(iter(self._jobs.query_entities("PartitionKey eq 'open'", results_per_page=1,
                                                                      select=["RowKey"])), None))  # fmt: skip

    def open_ids(self, after: str | None = None) -> list[str]:
        return list(self.iter_open_ids(after))

    def iter_open_ids(self, after: str | None = None, *, through: str | None = None) -> Iterator[str]:
        """The open index's ids after `after` and up to `through` (included), fetched a page (1,000 ids) at a time
        as the caller goes on: a reconcile run that stops at its budget has read only the pages it reached, and its
        wrap to the start reads no further than its cursor."""
        query, bounds = "PartitionKey eq 'open' and RowKey gt @after", {"after": after or ""}  # all sort after ''
        if through is not None:
            query, bounds = f"{query} and RowKey le @through", {**bounds, "through": through}
        with translated("open index"):  # the pages are fetched while iterating
            for entry in self._jobs.query_entities(query, parameters=bounds, select=["RowKey"]):
                yield str(entry["RowKey"])

    def reconcile_cursor(self) -> str | None:
        try:
            row = call("reconcile cursor", self._jobs.get_entity, *CURSOR_ROW)
        except NotFound:
            return None
        return str(row.get("after") or "") or None

    def set_reconcile_cursor(self, job_id: str | None) -> None:
        row = {"PartitionKey": CURSOR_ROW[0], "RowKey": CURSOR_ROW[1], "after": job_id or ""}
        call("reconcile cursor", self._jobs.upsert_entity, row, mode=UpdateMode.REPLACE)

    def close(self, job_id: str) -> None:
        with contextlib.suppress(NotFound):
            call("open index", self._jobs.delete_entity, "open", job_id)

    def claim_content(self, site: str, content: str, job_id: str) -> str:
        key = f"content~{site}~{content}"
        if self._insert({"PartitionKey": key, "RowKey": "owner", "job_id": job_id}, "content claim"):
            return job_id
        return str(call("content claim", self._jobs.get_entity, key, "owner")["job_id"])

    def take_over_content(self, site: str, content: str, old_owner: str, new_owner: str) -> str:
        """The claim moved to `new_owner` if it names `old_owner`: replaced only if its ETag is the one read, so
        of two jobs taking over at once one wins and the other is answered the winner. A claim deleted meanwhile (an
        erasure, or its owner's records expiring) is claimed afresh."""
        key = f"content~{site}~{content}"
        try:
            row = call("content claim", self._jobs.get_entity, key, "owner")
            if row["job_id"] != old_owner:
                return str(row["job_id"])
            call("content claim", self._jobs.update_entity, {"PartitionKey": key, "RowKey": "owner",
                 "job_id": new_owner}, mode=UpdateMode.REPLACE, etag=row.metadata["etag"],
                 match_condition=MatchConditions.IfNotModified)  # fmt: skip
        except (Conflict, NotFound):  # taken over, or released, between the read and the write: as it is now
            return self.claim_content(site, content, new_owner)
        return new_owner

    def add_follower(self, site: str, content: str, job_id: str) -> None:
        self._insert({"PartitionKey": f"content~{site}~{content}", "RowKey": f"follower~{job_id}"}, "follower")

    def followers(self, site: str, content: str) -> list[str]:
        query = "PartitionKey eq @pk and RowKey gt 'follower~' and RowKey lt 'follower~~'"
        with translated("followers"):  # the pages are fetched while listing
            entries = self._jobs.query_entities(query, parameters={"pk": f"content~{site}~{content}"})
            return [e["RowKey"].split("~", 1)[1] for e in entries]

    def add_feedback(self, job_id: str, feedback: dict[str, Any], at: datetime) -> str:
        """Kept once, in the job's next place; its id (azure_feedback_store.py)."""
        return self._feedback.add(job_id, feedback, at)

    def same_content(self, site: str, sha256: str) -> list[str]:
        return same_content(self._jobs, site, sha256)

    def erase_content(self, site: str, sha256: str) -> int:
        low = f"content~{site}~{sha256}~"  # every model's claim: a model id holds no '~', which sorts after its text
        return erase_rows(self._jobs, "PartitionKey ge @low and PartitionKey lt @high", {"low": low, "high": low + "~"})

    def erase_feedback(self, job_id: str) -> int:
        return self._feedback.erase(job_id)

    def erase_job(self, job: Job, *, entry_last: bool = False) -> None:
        """The open and site index rows first, the job's own row last: a run that dies between them still finds it
        from the job asked about. With `entry_last`, the site index entry goes last, for what finds jobs by it. Its
        feedback goes once more after the job's row: an entry written meanwhile (azure_feedback_store.py)."""
        keys = [("open", job.id), (f"site~{job.site}", f"{time_key(job.received_at)}~{job.id}"), (job.id, "job")]
        for key in [keys[0], keys[2], keys[1]] if entry_last else keys:
            call(f"job {job.id}", self._jobs.delete_entity, *key)  # a row already gone is no error
            if key == keys[2]:
                self._feedback.erase(job.id)
