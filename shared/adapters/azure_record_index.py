"""RecordIndex on Azure Table storage: the site index of the jobs table, read for record expiry (record_expiry.py).

The site index (azure_job_store.py) keeps one partition per site, `site~{site}`, whose RowKeys begin with the
time the job was received, so a site's expired entries are one range at the start of its partition. There is no
list of sites, and a filter on RowKey across every site's partition would make the service read every entry of
the index on each run, expired or not. So the sites are found one after another: the first entity whose
PartitionKey sorts after the last site read names the next site (one request, served from the table's key
order), and that site's expired entries are then read as a range, the oldest `per_site` of them. A pass costs one
request per site and one per page of expired entries, however long the index is.

Content claims are keyed by the photo's bytes and model (`content~{site}~{sha256}~{model}~{version}`); a job's
rows in them are the `owner` row while it names the job, and its `follower~{job id}` row. The owner row is
deleted only if it is still the version read: a job that took the claim over in between keeps it.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator, Set
from datetime import datetime

from azure.core import MatchConditions
from azure.data.tables import TableClient, TableServiceClient

from shared.adapters.azure_errors import call, translated
from shared.adapters.azure_job_store import JOBS, SITE_ROW, time_key
from shared.errors import Conflict, NotFound
from shared.jobs.ports import IndexEntry

SITES = "site~"
SITES_END = "site~~"  # `~` sorts after every character a site id may hold (shared.uploads.naming.ID)


class TableRecordIndex:
    def __init__(self, service: TableServiceClient, prefix: str = "") -> None:
        # The job store's table, with its prefix (SITELENS_TABLE_PREFIX); the job store creates it.
        self._jobs: TableClient = service.get_table_client(prefix + JOBS)

    def received_before(self, before: datetime, per_site: int, passed: Set[str]) -> Iterator[IndexEntry]:
        cutoff = time_key(before)
        partition = self._next_site(SITES)
        while partition is not None:
            site = partition[len(SITES) :]
            with translated(f"expired entries of site {site}"):  # the pages are fetched while iterating
                rows = self._jobs.query_entities("PartitionKey eq @pk and RowKey lt @cutoff",
                                                 parameters={"pk": partition, "cutoff": cutoff},
                                                 select=["RowKey"], results_per_page=per_site)  # fmt: skip
                named = (SITE_ROW.fullmatch(str(row["RowKey"])) for row in rows)  # other shapes: not entries
                fresh = (IndexEntry(site, n["job"], n.group(0)) for n in named if n and n["job"] not in passed)
                yield from itertools.islice(fresh, per_site)
            partition = self._next_site(partition)

    def _next_site(self, after: str) -> str | None:
        """The first site partition that sorts after `after`; None after the last."""
        with translated("sites of the index"):
            rows = self._jobs.query_entities("PartitionKey gt @after and PartitionKey lt @end",
                                             parameters={"after": after, "end": SITES_END},
                                             select=["PartitionKey"], results_per_page=1)  # fmt: skip
            first = next(iter(rows), None)
        return None if first is None else str(first["PartitionKey"])

    def drop(self, entry: IndexEntry) -> None:
        call(f"index entry of job {entry.job_id}", self._jobs.delete_entity, SITES + entry.site, entry.key)

    def release_content(self, site: str, sha256: str, job_id: str) -> int:
        low = f"content~{site}~{sha256}~"  # every model's claim: a model id holds no '~', which sorts after its text
        # The SDK substitutes a parameter only where it stands alone between spaces, so none touches a bracket.
        query = ("PartitionKey ge @low and PartitionKey lt @high and "
                 "( RowKey eq @follower or ( RowKey eq 'owner' and job_id eq @job ) )")  # fmt: skip
        with translated("content claims"):  # the pages are fetched while listing
            rows = list(self._jobs.query_entities(query, parameters={"low": low, "high": low + "~", "job": job_id,
                                                                     "follower": f"follower~{job_id}"}))  # fmt: skip
        released = 0
        for row in rows:
            with contextlib.suppress(Conflict, NotFound):  # taken over, or deleted, since it was read
                call("content claim", self._jobs.delete_entity, row["PartitionKey"], row["RowKey"],
                     etag=row.metadata["etag"], match_condition=MatchConditions.IfNotModified)  # fmt: skip
                released += 1
        return released
