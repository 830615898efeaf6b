"""The content claim's take-over and the JSON fields of a job: one set of expectations, run against TableJobStore
on Azurite and against the in-memory MemoryJobStore that the unit tests use, so the fake cannot drift from the
store it stands in for; and a take-over that loses a race on Azurite, decided by the claim row's ETag."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import pytest
from azure.data.tables import TableServiceClient, UpdateMode

from shared.adapters.azure_job_store import JOBS, TableJobStore
from shared.jobs import ids
from shared.jobs.models import Job
from shared.jobs.ports import JobStore

pytestmark = pytest.mark.integration
T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
SITE, CONTENT = "north-yard", "ab12~ocr~ppocrv4"
OLD, NEW, RIVAL = "j_0000000000000000000000000a", "j_0000000000000000000000000b", "j_0000000000000000000000000c"


@pytest.fixture
def store(either_store: JobStore) -> JobStore:
    return either_store


def test_a_claim_that_names_the_old_owner_is_taken_over_and_then_names_the_new_one(store):
    assert store.claim_content(SITE, CONTENT, OLD) == OLD
    assert store.take_over_content(SITE, CONTENT, OLD, NEW) == NEW
    assert store.claim_content(SITE, CONTENT, RIVAL) == NEW  # the next photo with these bytes finds NEW
    assert store.take_over_content(SITE, CONTENT, NEW, NEW) == NEW  # taking over from oneself: nothing moves


def test_a_claim_taken_over_already_answers_its_holder_and_stays(store):
    store.claim_content(SITE, CONTENT, OLD)
    assert store.take_over_content(SITE, CONTENT, OLD, NEW) == NEW
    assert store.take_over_content(SITE, CONTENT, OLD, RIVAL) == NEW  # it read OLD before NEW took it over
    assert store.claim_content(SITE, CONTENT, RIVAL) == NEW


def test_a_claim_released_before_the_take_over_is_claimed_afresh(store):
    """Its owner's records expired (or were erased) between the new photo's look and its take-over."""
    store.claim_content(SITE, CONTENT, OLD)
    store.erase_content(SITE, CONTENT.split("~", 1)[0])
    assert store.take_over_content(SITE, CONTENT, OLD, NEW) == NEW
    assert store.claim_content(SITE, CONTENT, RIVAL) == NEW


def test_quality_and_summary_read_back_as_json_has_them(store):
    name = "north-yard/cam-1/2026/11/22/p1.jpg"
    job = Job(ids.job_id_for(name), SITE, "cam-1", "p1", name, '"0x1"', T0)
    created = store.create(job)
    assert created is not None
    quality = {"blur": 212.5, "flags": ("blurry", "low_resolution"), "width": 640}
    summary = {"kind": "ocr", "lines": 2, "text": ("PUMP 1", "VALVE 2")}
    written = store.update(replace(created, quality=quality, summary=summary))
    read = store.get(job.id)
    assert read.etag == written.etag
    assert read.quality == {"blur": 212.5, "flags": ["blurry", "low_resolution"], "width": 640} != quality
    assert read.summary == {"kind": "ocr", "lines": 2, "text": ["PUMP 1", "VALVE 2"]}


def test_of_two_take_overs_at_once_one_wins_and_the_other_is_answered_the_winner(storage_connection, unique):
    """RIVAL's take-over lands between NEW's read of the claim and its write: NEW's write, conditional on the
    ETag it read, is refused, and NEW is answered RIVAL."""
    prefix, rival = f"t{unique}", TableServiceClient.from_connection_string(storage_connection)

    def rival_writes_first(request: Any) -> None:
        http = request.http_request
        if http.method == "PUT" and "RowKey='owner'" in unquote(http.url) and not raced:
            raced.append(http.url)
            row = {"PartitionKey": f"content~{SITE}~{CONTENT}", "RowKey": "owner", "job_id": RIVAL}
            rival.get_table_client(prefix + JOBS).update_entity(row, mode=UpdateMode.REPLACE)

    raced: list[str] = []
    hooked = TableServiceClient.from_connection_string(storage_connection, raw_request_hook=rival_writes_first)
    store = TableJobStore(hooked, prefix=prefix)
    store.claim_content(SITE, CONTENT, OLD)
    assert store.take_over_content(SITE, CONTENT, OLD, NEW) == RIVAL
    assert raced and store.claim_content(SITE, CONTENT, NEW) == RIVAL
