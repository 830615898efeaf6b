"""A job row whose summary an earlier release stored with its strings whole, on Azurite: the status API and the site
summary show it cut (shared/jobs/result_kinds.py, `with_kind`), and so do the status document and the webhook event
of a job that reuses its result after the upgrade (it copies the owner's stored summary)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from azure.data.tables import UpdateMode

from shared.adapters.azure_job_store import JOBS
from shared.adapters.azure_webhook_store import TableWebhookStore
from shared.jobs import ids
from shared.jobs.api import JobsApi
from shared.jobs.models import JobState
from shared.jobs.summary import SummaryApi
from tests.integration.jobs.real_world import RealWorld
from tests.integration.jobs.test_duplicate_bytes_takeover import succeed, upload
from tests.unit.jobs.test_document_kinds import JOB
from tests.unit.jobs.test_pipeline import photo
from tests.unit.jobs.test_summaries_stored_uncut import cut_by_hand, stored_before_the_cut

pytestmark = pytest.mark.integration


def body_of(reply: Any) -> dict[str, Any]:
    assert reply.status == 200 and reply.body is not None, reply.body
    return dict(reply.body)


@pytest.mark.parametrize("kind", ["ocr", "classify", "detect"])
def test_a_summary_stored_whole_is_served_cut_and_a_job_reusing_it_is_sent_cut(real_world: RealWorld, kind: str):
    world, data = real_world, photo(3)
    owner = succeed(world, upload(world, 1, data))
    table = world.tables.get_table_client(world.prefix + JOBS)
    row = table.get_entity(owner.id, "job")  # the summary as the earlier release wrote it, straight into the row
    table.update_entity({**row, "summary": json.dumps(stored_before_the_cut(kind))}, mode=UpdateMode.REPLACE)
    assert world.restarted_store().get(owner.id).summary == stored_before_the_cut(kind)  # stored whole

    follower = upload(world, 2, data)  # after the upgrade: it reuses the owner's result at once

    assert follower.state is JobState.SUCCEEDED and follower.cached_from == owner.id
    cut = cut_by_hand(kind)
    api = JobsApi(world.restarted_store(), world.photos, retry=lambda job: job)
    for job_id in (owner.id, follower.id):
        doc = body_of(api.handle("get", {"id": job_id}, {}, {}, b""))
        assert doc["result"]["summary"] == cut and JOB.is_valid(doc)  # openapi.json's maxLength holds
    site = body_of(SummaryApi(world.restarted_store(), lambda job: {}, world.clock).handle(world.site))
    assert [doc["result"]["summary"] for doc in site["latest"]] == [cut, cut]
    events = TableWebhookStore(world.tables, prefix=world.prefix)
    event = json.loads(events.get_event(ids.event_id(follower.id, JobState.SUCCEEDED)).body)
    assert event["data"]["id"] == follower.id and event["data"]["result"]["summary"] == cut
