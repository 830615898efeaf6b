"""A reconcile run reads the open index a page at a time and once round, on TableJobStore against Azurite: the
entities Table storage answers are counted from its responses.

A run used to list every id after its cursor before it looked at the first job, and on wrapping to the start
listed the whole index again to keep the ids up to the cursor: up to twice the open jobs read each run, and a run
stopped by its budget after a few jobs had read every id after its cursor anyway. The jobs here are index rows
whose job row is missing; the store's reads of the jobs are replaced, so that the only table traffic counted is
the walk's own listing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import unquote

import pytest
from azure.data.tables import TableServiceClient

from shared.adapters.azure_job_store import JOBS, TableJobStore
from shared.errors import NotFound
from shared.jobs import ids
from shared.jobs.models import Job
from shared.jobs.ports import JobStore
from shared.jobs.reconciler import Reconciler
from tests.integration.jobs.test_job_store_contract import received
from tests.unit.jobs.test_pipeline import World

pytestmark = pytest.mark.integration
OPEN_JOBS = 2_500  # three pages: Table storage answers a query 1,000 entities a page at most
PAGE = 1_000
BUDGET_S = 60.0


@dataclass
class OpenReads:
    """A raw response hook: the pages of the `open` partition Table storage answered, and the entities in them."""

    pages: int = 0
    entities: int = 0

    def __call__(self, response: Any) -> None:
        http = response.http_response
        if http.request.method == "GET" and "PartitionKey eq 'open'" in unquote(http.request.url):
            self.pages += 1
            self.entities += len(json.loads(http.body() or b"{}").get("value", []))


@dataclass
class Walk:
    """The store's per-job reads replaced: each job looked at is recorded, found missing, and spends `per_job_s`
    of the budget's clock."""

    per_job_s: float
    now: float = 1_000.0
    looked_at: list[str] = field(default_factory=list)

    def get(self, job_id: str) -> Job:
        self.looked_at.append(job_id)
        self.now += self.per_job_s
        raise NotFound(job_id)

    def close(self, job_id: str) -> None:  # the index row stays: every run below walks the same index
        pass


@pytest.fixture
def counted(storage_connection: str, unique: str) -> tuple[TableJobStore, OpenReads, list[str]]:
    """A store whose open index holds OPEN_JOBS ids, the reads of that partition counted; the ids in RowKey order."""
    reads = OpenReads()
    tables = TableServiceClient.from_connection_string(storage_connection, raw_response_hook=reads)
    store = TableJobStore(tables, prefix=f"t{unique}")
    made = sorted(ids.job_id_for(f"north-yard/cam-1/2026/11/22/p{n}.jpg") for n in range(OPEN_JOBS))
    index = tables.get_table_client(f"t{unique}{JOBS}")
    for start in range(0, OPEN_JOBS, 100):  # a batch holds 100 rows of one partition at most
        index.submit_transaction([("create", {"PartitionKey": "open", "RowKey": job_id})
                                  for job_id in made[start : start + 100]])  # fmt: skip
    return store, reads, made


def run(store: TableJobStore, walk: Walk, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store, "get", walk.get)
    monkeypatch.setattr(store, "close", walk.close)
    world = World()  # Batch, photos and the rest in memory: only the job store is Azure's
    Reconciler(store=store, photos=world.photos, submitter=world.batch, ingestion=world.ingestion,
               completion=world.completion, finisher=world.finisher, clock=world.clock,
               stuck_after=timedelta(minutes=15), budget=timedelta(seconds=BUDGET_S),
               monotonic=lambda: walk.now).run()  # fmt: skip


@pytest.mark.parametrize("at", [0.1, 0.9])
def test_a_run_round_the_ring_reads_each_open_id_once(counted, monkeypatch: pytest.MonkeyPatch, at: float) -> None:
    store, reads, made = counted
    cursor = int(OPEN_JOBS * at)
    store.set_reconcile_cursor(made[cursor])
    reads.pages = reads.entities = 0
    walk = Walk(per_job_s=0.0)  # no budget spent: the run goes all the way round
    run(store, walk, monkeypatch)
    assert walk.looked_at == made[cursor + 1 :] + made[: cursor + 1]  # after the cursor, then up to it, in order
    assert reads.entities == OPEN_JOBS  # not the ids after the cursor and then the whole index again
    assert store.reconcile_cursor() is None  # all the way round: the next run starts at the beginning


def test_a_run_stopped_by_its_budget_reads_only_the_page_it_reached(counted, monkeypatch) -> None:
    store, reads, made = counted
    store.set_reconcile_cursor(made[249])
    reads.pages = reads.entities = 0
    walk = Walk(per_job_s=BUDGET_S / 5)  # the budget is spent after five jobs
    run(store, walk, monkeypatch)
    assert walk.looked_at == made[250:255] and store.reconcile_cursor() == made[254]
    assert (reads.pages, reads.entities) == (1, PAGE)  # not the 2,250 ids after the cursor


def test_the_lazy_listing_keeps_to_its_bounds(either_store: JobStore) -> None:
    jobs = [received(n) for n in range(5)]
    for job in jobs:
        either_store.create(job)
    made = sorted(job.id for job in jobs)
    assert list(either_store.iter_open_ids()) == made == either_store.open_ids()
    assert list(either_store.iter_open_ids(through=made[1])) == made[:2]  # the bound itself included
    assert list(either_store.iter_open_ids(after=made[1], through=made[3])) == made[2:4]
    assert list(either_store.iter_open_ids(after=made[-1])) == [] == list(either_store.iter_open_ids(through="j_"))
