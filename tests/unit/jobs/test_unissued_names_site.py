"""A blob whose name the upload API never issued (written with the account key) ends REJECTED `invalid_name` under
the reserved site `_unknown`, which no site id can be: a real site named `unknown` never gets these jobs in its
listing, its summary or its webhooks; an operator lists them with `?site=_unknown`, and an all-sites webhook
subscription sees them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.jobs import ids
from shared.jobs.api import JobsApi
from shared.jobs.finisher import Finisher
from shared.jobs.ingestion import UNKNOWN
from shared.jobs.models import JobState
from shared.jobs.outbox import WebhookOutbox
from shared.jobs.poisoned_photos import TRIES, Outcome, PoisonedPhotos
from shared.jobs.summary import SummaryApi
from tests.unit.api.fakes import MemoryWebhookStore
from tests.unit.jobs.test_api import call
from tests.unit.jobs.test_pipeline import World, photo
from tests.unit.jobs.test_poisoned_photos import poisoned, storage_blip
from tests.unit.webhooks.test_write_rules import Queue, create, service_of

UNISSUED = "imports/2025 archive/IMG 0001.jpg"  # written with the account key, not through the upload API
REAL = "unknown/cam-1/2026/11/22/IMG_1.jpg"  # a real site whose id happens to be `unknown`


@pytest.fixture
def world() -> World:
    return World()


def test_the_reserved_site_is_no_site_id():
    from shared.jobs.routing import SITE_KEY
    from shared.uploads.naming import ID
    from shared.validation import parse_name

    assert UNKNOWN == "_unknown"
    assert not ID.fullmatch(UNKNOWN) and not SITE_KEY.fullmatch(UNKNOWN)
    assert parse_name(f"{UNKNOWN}/cam-1/2026/11/22/IMG_1.jpg") is None  # no issued name files a job under it


def test_a_job_of_an_unissued_name_is_filed_under_the_reserved_site_not_a_real_sites(world: World):
    world.photos.add(UNISSUED, photo(1))
    world.photos.add(REAL, photo(2), etag='"0x2"')
    rejected, real = world.ingestion.ingest(UNISSUED), world.ingestion.ingest(REAL)
    assert (rejected.state, rejected.reason) == (JobState.REJECTED, "invalid_name")
    assert (rejected.site, rejected.device, rejected.photo_id) == (UNKNOWN, UNKNOWN, UNISSUED)
    assert real.site == "unknown" and real.state is JobState.QUEUED

    api = JobsApi(world.store, world.photos, retry=world.ingestion.retry)
    assert [j["id"] for j in call(api, "list", query={"site": "unknown"}).body["jobs"]] == [real.id]
    assert [j["id"] for j in call(api, "list", query={"site": UNKNOWN}).body["jobs"]] == [rejected.id]
    summary = SummaryApi(world.store, links=lambda _job: {}, clock=lambda: world.clock() + timedelta(minutes=1))
    reply = summary.handle("unknown")
    assert reply.status == 200 and "invalid_name" not in str(reply.body), reply.body


@pytest.mark.parametrize("site", ["_other", "_Unknown", "_unknown ", "__unknown", "_"])
def test_only_the_reserved_site_itself_passes_the_listings_filter_beside_the_ids(world: World, site: str):
    api = JobsApi(world.store, world.photos, retry=world.ingestion.retry)
    reply = call(api, "list", query={"site": site})
    assert (reply.status, reply.body["reason"]) == (400, "invalid_site")


def test_the_last_try_of_a_poisoned_unissued_name_files_its_job_under_the_reserved_site(world: World):
    world.photos.add(UNISSUED, photo(1))
    storage_blip(world)
    round_ = PoisonedPhotos(ingestion=lambda: world.ingestion, store=lambda: world.store,
                            finisher=lambda: world.finisher, clock=world.clock)  # fmt: skip
    assert round_.handle(poisoned(UNISSUED), dequeue_count=TRIES) is Outcome.FAILED
    assert world.store.get(ids.job_id_for(UNISSUED)).site == "_unknown"  # the second round files it alike


def test_only_an_all_sites_subscription_is_sent_the_rejection(world: World):
    queue = Queue()
    hooks = service_of(MemoryWebhookStore(), queue)
    world.ingestion.finisher = Finisher(world.store, WebhookOutbox(hooks, world.clock), world.clock)
    status, site_sub = create(hooks, site="unknown")
    assert status == 201
    status, all_sub = create(hooks, "http://127.0.0.1:9/all")  # no site: every site
    assert status == 201
    status, refused = create(hooks, "http://127.0.0.1:9/reserved", site=UNKNOWN)
    assert (status, refused["reason"]) == (400, "invalid_site")  # no subscription can name the reserved site

    world.photos.add(UNISSUED, photo(1))
    job = world.ingestion.ingest(UNISSUED)
    assert job.state is JobState.REJECTED
    assert [sub for _event, sub in queue.sent] == [all_sub["id"]]
    assert site_sub["id"] not in {sub for _event, sub in queue.sent}
