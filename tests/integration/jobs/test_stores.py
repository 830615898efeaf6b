"""TableJobStore and BlobPhotoStore against Azurite with the real SDKs."""

import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta, timezone

import pytest
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient

from shared.adapters.azure_job_store import TableJobStore, to_entity
from shared.adapters.azure_photo_store import BlobPhotoStore, BlobRouting
from shared.errors import Conflict, NotFound
from shared.jobs import ids, summary
from shared.jobs.models import Job, JobState
from shared.jobs.summary import SummaryApi

pytestmark = pytest.mark.integration
T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


@pytest.fixture
def store(storage_connection, unique):
    return TableJobStore(TableServiceClient.from_connection_string(storage_connection), prefix=f"t{unique[:8]}")


@pytest.fixture
def photos(storage_connection):
    service = BlobServiceClient.from_connection_string(storage_connection)
    store = BlobPhotoStore(service, account_key=service.credential.account_key, https_only=False)
    store.ensure_containers()
    return store


def new_job(name: str, site: str = "site1", at: datetime = T0) -> Job:
    return Job(ids.job_id_for(name), site, "dev1", name, name, '"e1"', at)


def test_create_is_if_absent_and_updates_are_conditional(store):
    job = store.create(new_job("a"))
    assert job is not None and job.etag
    assert store.create(new_job("a")) is None  # a second delivery finds the first record
    queued = store.update(job.advance(JobState.QUEUED, T0, model="ocr/ppocrv4", quality={"blurry": False}))
    assert store.get(job.id) == queued and queued.quality == {"blurry": False}
    with pytest.raises(Conflict):  # a writer holding the old version loses
        store.update(job.advance(JobState.REJECTED, T0, reason="corrupt_image"))
    assert store.get(job.id).state is JobState.QUEUED


def test_open_index_lists_live_jobs_until_closed(store):
    a, b = store.create(new_job("a")), store.create(new_job("b"))
    assert set(store.open_ids()) == {a.id, b.id}
    store.close(a.id)
    store.close(a.id)  # idempotent
    assert store.open_ids() == [b.id]


def test_listing_by_site_pages_in_time_order_and_filters_by_state(store):
    made = [store.create(new_job(f"p{i}", at=T0 + timedelta(seconds=i))) for i in range(5)]
    store.create(new_job("other", site="site2"))
    store.update(made[1].advance(JobState.REJECTED, T0, reason="too_small"))
    page1, token = store.list_site("site1", state=None, since=None, limit=2, token=None)
    page2, token2 = store.list_site("site1", state=None, since=None, limit=2, token=token)
    page3, token3 = store.list_site("site1", state=None, since=None, limit=2, token=token2)
    assert [j.id for j in page1 + page2 + page3] == [j.id for j in made] and token3 is None
    rejected, _ = store.list_site("site1", state=JobState.REJECTED, since=None, limit=10, token=None)
    assert [j.id for j in rejected] == [made[1].id]
    later, _ = store.list_site("site1", state=None, since=T0 + timedelta(seconds=3), limit=10, token=None)
    assert [j.id for j in later] == [made[3].id, made[4].id]


def test_content_claims_have_one_owner_and_list_followers(store):
    assert store.claim_content("site1", "abc", "j_owner") == "j_owner"
    assert store.claim_content("site1", "abc", "j_second") == "j_owner"
    assert store.claim_content("site2", "abc", "j_other_site") == "j_other_site"  # dedupe is per site
    store.add_follower("site1", "abc", "j_second")
    store.add_follower("site1", "abc", "j_second")
    assert store.followers("site1", "abc") == ["j_second"]


def test_feedback_needs_a_known_job(store):
    job = store.create(new_job("a"))
    assert store.add_feedback(job.id, {"label": "meter"}, T0)
    with pytest.raises(NotFound):
        store.add_feedback("j_" + "z" * 26, {"label": "x"}, T0)


def test_quarantine_moves_the_original_with_its_reason(photos, unique):
    name = f"site1/dev1/2026/11/22/{unique}.jpg"
    photos.service.get_blob_client("photos", name).upload_blob(b"\xff\xd8junk")
    info = photos.photo_info(name)
    assert info.size == 6
    photos.quarantine(name, info.etag, "corrupt_image", "no end marker — truncated")
    moved = photos.service.get_blob_client("quarantine", name)
    props = moved.get_blob_properties()
    assert props.metadata == {"reason": "corrupt_image", "detail": "no end marker ? truncated",
                              "photo_etag": info.etag.strip('"')}  # fmt: skip
    assert moved.download_blob().readall() == b"\xff\xd8junk"
    with pytest.raises(NotFound):
        photos.photo_info(name)


def test_reads_are_bounded_and_tied_to_the_version_checked(photos, unique):
    name = f"site1/dev1/2026/11/22/{unique}.jpg"
    blob = photos.service.get_blob_client("photos", name)
    blob.upload_blob(b"x" * 1000)
    etag = photos.photo_info(name).etag
    assert photos.read_photo(name, etag, 100) == b"x" * 100
    blob.upload_blob(b"y" * 10, overwrite=True)
    with pytest.raises(Conflict) as replaced:
        photos.read_photo(name, etag, 100)
    assert replaced.value.reason == "overwritten"


def test_read_links_allow_reading_one_blob_until_they_expire(photos, unique):
    job_id = ids.job_id_for(unique)
    photos.put_derived(job_id, b"jpeg bytes")
    link = photos.read_link("derived", ids.derived_path(job_id), timedelta(minutes=5))
    with urllib.request.urlopen(link, timeout=10) as r:
        assert r.read() == b"jpeg bytes"
    expired = photos.read_link("derived", ids.derived_path(job_id), timedelta(seconds=-600))
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(expired, timeout=10)
    assert info.value.code == 403
    info.value.close()
    with pytest.raises(NotFound):
        photos.read_result(f"{job_id}/result.json")


def test_routing_reads_models_routing_json(photos, storage_connection):
    service = BlobServiceClient.from_connection_string(storage_connection)
    blob = service.get_blob_client("models", "routing.json")
    if blob.exists():
        blob.delete_blob()
    assert BlobRouting(service).weights() == []
    blob.upload_blob(b'{"routes": [{"model": "ocr/ppocrv4", "weight": 1}]}')
    assert BlobRouting(service).weights() == [("ocr/ppocrv4", 1)]
    blob.delete_blob()


def test_a_crash_between_the_job_and_its_indexes_is_repaired_by_the_next_delivery(store):
    job = new_job("crashed")
    store._jobs.create_entity(to_entity(job))  # the job row alone: the process died before the indexes
    assert store.open_ids() == []
    assert store.create(new_job("crashed", at=T0 + timedelta(seconds=9))) is None  # the redelivery
    assert store.open_ids() == [job.id]
    listed, _ = store.list_site("site1", state=None, since=None, limit=10, token=None)
    assert [(j.id, j.received_at) for j in listed] == [(job.id, T0)]  # indexed at the stored receipt time


def test_since_in_another_time_zone_lists_the_same_jobs(store):
    made = [store.create(new_job(f"z{i}", at=T0 + timedelta(seconds=i))) for i in range(3)]
    since = (T0 + timedelta(seconds=1)).astimezone(timezone(timedelta(hours=5)))
    later, _ = store.list_site("site1", state=None, since=since, limit=10, token=None)
    assert [j.id for j in later] == [made[1].id, made[2].id]


def test_a_malformed_routing_json_keeps_the_routes_in_force(photos, storage_connection):
    service = BlobServiceClient.from_connection_string(storage_connection)
    blob = service.get_blob_client("models", "routing.json")
    blob.upload_blob(b'{"routes": [{"model": "ocr/ppocrv4", "weight": 3}]}', overwrite=True)
    now = [0.0]
    routing = BlobRouting(service, clock=lambda: now[0])
    assert routing.weights() == [("ocr/ppocrv4", 3)]
    blob.upload_blob(b'{"routes": [{"model": "../x", "weight": 1}]}', overwrite=True)
    now[0] = 120.0
    assert routing.weights() == [("ocr/ppocrv4", 3)]
    blob.delete_blob()


def test_site_ids_reads_a_window_of_the_index_and_says_when_more_follow(store):
    made = [store.create(new_job(f"w{i}", at=T0 + timedelta(seconds=i))) for i in range(5)]
    store.create(new_job("elsewhere", site="site2", at=T0 + timedelta(seconds=2)))
    window = {"since": T0 + timedelta(seconds=1), "until": T0 + timedelta(seconds=4)}  # [1 s, 4 s)
    assert store.site_ids("site1", **window, limit=10) == ([j.id for j in made[1:4]], False)
    assert store.site_ids("site1", **window, limit=2) == ([made[1].id, made[2].id], True)
    assert store.site_ids("site1", **window, limit=3) == ([j.id for j in made[1:4]], False)  # all: nothing more


def test_the_site_summary_is_truncated_only_when_jobs_were_left_out_and_shows_the_newest(store, monkeypatch):
    monkeypatch.setattr(summary, "MAX_JOBS", 3)
    monkeypatch.setattr(summary, "LATEST", 2)
    end = T0 + timedelta(hours=1)
    api = SummaryApi(store, lambda job: {}, clock=lambda: end)
    made = [store.create(new_job(f"s{i}", at=T0 + timedelta(minutes=10 * i + 1))) for i in range(3)]
    doc = api.handle("site1").body
    assert doc is not None and (doc["jobs"], doc["truncated"]) == (3, False)  # exactly the bound: nothing left out
    made += [store.create(new_job(f"s{i}", at=T0 + timedelta(minutes=10 * i + 1))) for i in range(3, 5)]
    doc = api.handle("site1").body
    assert doc is not None and (doc["jobs"], doc["truncated"]) == (3, True)
    assert [d["id"] for d in doc["latest"]] == [made[4].id, made[3].id]  # the hour's newest, not the oldest three's


def test_containers_created_by_another_worker_since_they_were_looked_at_are_no_error(photos, monkeypatch):
    """Two worker threads building the store at once both find a container missing; the second create is refused
    (ContainerAlreadyExists), which must not fail the invocation that built it."""
    service = photos.service
    looked_missing = service.get_container_client

    def client_that_saw_it_missing(name: str):
        client = looked_missing(name)
        monkeypatch.setattr(client, "exists", lambda: False)
        return client

    monkeypatch.setattr(service, "get_container_client", client_that_saw_it_missing)
    photos.ensure_containers()  # each create answers 409 from Azurite: the containers exist


@pytest.mark.parametrize("year", [1, 26, 999, 1000])
def test_since_before_the_year_1000_bounds_the_listing_as_any_other(store, year):
    """The site index's keys are fixed-width text: a year below 1000 is padded, so it still sorts before 2026."""
    made = [store.create(new_job(f"y{i}", at=T0 + timedelta(seconds=i))) for i in range(3)]
    since = datetime(year, 11, 22, 8, 0, tzinfo=UTC)
    listed, token = store.list_site("site1", state=None, since=since, limit=10, token=None)
    assert [j.id for j in listed] == [j.id for j in made] and token is None
    window = store.site_ids("site1", since=since, until=T0 + timedelta(seconds=2), limit=10)
    assert window == ([made[0].id, made[1].id], False)
