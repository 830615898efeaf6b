"""`models/routing.json` that cannot be used, read by the real storage SDK from a scripted loopback service:
an instance that read routes before keeps them; one that read none (started since, as Functions scales out)
refuses to route, so the photo waits instead of going to the default model, and still ends in one state."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta

import pytest
from azure.storage.blob import BlobServiceClient

from shared.adapters.azure_photo_store import ROUTING_RETRY_S, BlobRouting
from shared.config import DEV_KEY
from shared.errors import SitelensError, TransientError
from shared.jobs import ids
from shared.jobs.models import JobState
from tests.support.scripted_http import Answer, ScriptedServer
from tests.unit.adapters.test_sdk_answers import refusal
from tests.unit.jobs.test_pipeline import World

ACCOUNT = "devstoreaccount1"
ROUTING = f"/{ACCOUNT}/models/routing.json"
GOOD = (b'{"routes": [{"model": "ocr/ppocrv4", "weight": 100}], '
        b'"sites": {"north-yard": [{"model": "pipe-defects/1.1.0", "weight": 100}]}}')  # fmt: skip
MALFORMED = GOOD.replace(b'"weight": 100}]}}', b'"weight": "100"}]}}')  # a hand edit: the weight a string
SITE_ROUTES = [("pipe-defects/1.1.0", 100)]


def document(body: bytes) -> Answer:
    headers = {"ETag": '"0x1"', "x-ms-blob-type": "BlockBlob", "Content-Range": f"bytes 0-{len(body) - 1}/{len(body)}"}
    return 206, headers, body, None


@pytest.fixture
def storage() -> Iterator[ScriptedServer]:
    server = ScriptedServer(refusal(404, "BlobNotFound"), route=lambda path: path.split("?", 1)[0])
    yield server
    server.close()


@pytest.fixture
def service(storage: ScriptedServer) -> BlobServiceClient:
    credential = {"account_name": ACCOUNT, "account_key": DEV_KEY}
    return BlobServiceClient(f"{storage.origin}/{ACCOUNT}", credential=credential, retry_total=0)


def test_no_routing_json_means_the_default_model_for_every_site(service):
    assert BlobRouting(service).weights("north-yard") == []


def routing_reads(storage: ScriptedServer) -> int:
    return len([seen for seen in storage.seen if seen[1].startswith(ROUTING)])


def test_a_new_instance_that_finds_it_malformed_routes_nothing_until_it_is_fixed(storage, service, caplog):
    now = [0.0]
    storage.script[ROUTING] = [document(MALFORMED)]
    routes = BlobRouting(service, clock=lambda: now[0])
    with pytest.raises(TransientError) as caught, caplog.at_level(logging.ERROR):
        routes.weights("north-yard")
    assert getattr(caught.value.__cause__, "reason", None) == "bad_routing"
    assert "has read no routes yet" in caplog.text and "keeping" not in caplog.text
    storage.script[ROUTING] = [document(GOOD)]
    now[0] += ROUTING_RETRY_S - 1
    with pytest.raises(TransientError):  # the refusal is remembered: the fix is not read yet
        routes.weights("north-yard")
    assert routing_reads(storage) == 1
    now[0] += 1
    assert routes.weights("north-yard") == SITE_ROUTES  # read as soon as the period lapses
    assert routing_reads(storage) == 2


@pytest.mark.parametrize("answer", [document(MALFORMED), refusal(403, "AuthorizationPermissionMismatch")])
def test_a_new_instance_reads_and_logs_an_unusable_document_once_a_period_however_many_photos_arrive(
    storage, service, caplog, answer
):
    now = [0.0]
    storage.script[ROUTING] = [answer]
    routes = BlobRouting(service, clock=lambda: now[0])
    for period in range(2):
        for _ in range(50):  # photos, host retries and re-drives alike
            with caplog.at_level(logging.ERROR), pytest.raises(TransientError, match="no routes to keep") as caught:
                routes.weights("north-yard")
            assert isinstance(caught.value.__cause__, SitelensError)  # the storage or parse error, as at first
        assert routing_reads(storage) == period + 1
        assert len([r for r in caplog.records if "has read no routes yet" in r.getMessage()]) == period + 1
        now[0] += ROUTING_RETRY_S


@pytest.mark.parametrize("answer", [refusal(403, "AuthorizationPermissionMismatch"), refusal(503, "ServerBusy")])
def test_a_new_instance_that_cannot_read_it_routes_nothing_either(storage, service, answer):
    storage.script[ROUTING] = [answer]
    with pytest.raises(TransientError, match="unreadable"):
        BlobRouting(service).weights("north-yard")


def test_an_instance_that_read_routes_keeps_them_while_the_document_cannot_be_used(storage, service, caplog):
    now = [0.0]
    routes = BlobRouting(service, clock=lambda: now[0])
    storage.script[ROUTING] = [document(GOOD)]
    assert routes.weights("north-yard") == SITE_ROUTES
    for answer in (document(MALFORMED), refusal(403, "AuthorizationPermissionMismatch"), refusal(500, "Internal")):
        storage.script[ROUTING] = [answer]
        now[0] += 60
        with caplog.at_level(logging.WARNING):
            assert routes.weights("north-yard") == SITE_ROUTES
        assert "keeping the routes this instance read before" in caplog.text
        caplog.clear()
    assert routing_reads(storage) == 4  # each re-read after the TTL


def test_a_photo_routed_while_the_document_is_malformed_waits_then_runs_on_its_sites_model(storage, service):
    world = World()
    world.ingestion.routes = BlobRouting(service, clock=lambda: world.clock().timestamp())
    storage.script[ROUTING] = [document(MALFORMED)]
    name = world.upload(1)  # a north-yard photo
    with pytest.raises(TransientError):  # the host delivers the event again, then its poison round
        world.ingestion.ingest(name)
    job_id = ids.job_id_for(name)
    assert world.store.get(job_id).state is JobState.RECEIVED and world.store.open_ids() == [job_id]
    assert world.batch.tasks == {}  # never submitted to the default model
    world.clock.advance(16 * 60)
    assert world.reconciler.run().errors == 1  # the re-drive fails the same way; the job stays open
    assert world.store.get(job_id).state is JobState.RECEIVED
    storage.script[ROUTING] = [document(GOOD)]  # fixed
    world.clock.advance(16 * 60)
    world.reconciler.run()
    queued = world.store.get(job_id)
    assert queued.state is JobState.QUEUED and queued.model == "pipe-defects/1.1.0"
    assert world.batch.tasks[job_id].model == "pipe-defects/1.1.0"


def test_a_photo_whose_routing_stays_malformed_times_out_once(storage, service):
    world = World()
    world.ingestion.routes = BlobRouting(service, clock=lambda: world.clock().timestamp())
    storage.script[ROUTING] = [document(MALFORMED)]
    name = world.upload(1)
    with pytest.raises(TransientError):
        world.ingestion.ingest(name)
    world.clock.advance(timedelta(hours=24, minutes=1).total_seconds())
    world.reconciler.run()
    failed = world.store.get(ids.job_id_for(name))
    assert failed.state is JobState.FAILED and failed.reason == "timed_out"
    assert world.outbox.states() == [JobState.FAILED] and world.store.open_ids() == []
