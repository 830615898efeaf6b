"""Blob trigger semantics against Azurite: scan + receipts across restarts, poison, Event Grid webhook."""

from __future__ import annotations

import base64
import json
import urllib.request

import pytest
from azure.storage.blob import BlobServiceClient

from tests.support.queues import emptied
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def names(unique: str) -> dict[str, str]:
    return {"SCAN_CONTAINER": f"scan-{unique}", "COPY_CONTAINER": f"copy-{unique}", "EG_CONTAINER": f"eg-{unique}"}


def upload(connection: str, container: str, name: str, data: bytes) -> str:
    service = BlobServiceClient.from_connection_string(connection)
    c = service.get_container_client(container)
    if not c.exists():
        c.create_container()
    return str(c.get_blob_client(name).upload_blob(data, overwrite=True)["etag"])


def test_blob_is_delivered_once_across_a_host_restart(make_host, storage_connection, names, log_queue):
    # GIVEN a host that delivered a blob
    first = make_host("blobs", names).start()
    upload(storage_connection, names["SCAN_CONTAINER"], "site1/a.jpg", b"12345")
    [a] = log_queue.wait_count(1, fn="on_blob")
    assert a["name"] == f"{names['SCAN_CONTAINER']}/site1/a.jpg"
    assert a["length"] == 5
    first.stop()
    # WHEN a new host starts on the same storage and another blob arrives
    make_host("blobs", names).start()
    upload(storage_connection, names["SCAN_CONTAINER"], "site1/b.jpg", b"123")
    log_queue.wait_count(1, fn="on_blob", name=f"{names['SCAN_CONTAINER']}/site1/b.jpg")
    # THEN the first blob was not delivered again (its receipt is complete)
    delivered = [r["name"] for r in log_queue.read() if r["fn"] == "on_blob"]
    assert sorted(delivered) == [f"{names['SCAN_CONTAINER']}/site1/a.jpg", f"{names['SCAN_CONTAINER']}/site1/b.jpg"]
    # and the output binding rendered {site}/{name} from the trigger path
    copies = BlobServiceClient.from_connection_string(storage_connection).get_container_client(names["COPY_CONTAINER"])
    assert copies.download_blob("site1/a.jpg.len").readall() == b"5"


def test_failing_blob_function_ends_in_the_blob_poison_queue(make_host, storage_connection, names, log_queue):
    poison = emptied(storage_connection, "webjobs-blobtrigger-poison")  # earlier tests' would hide this one's
    make_host("blobs", names).start()
    etag = upload(storage_connection, names["SCAN_CONTAINER"], "site1/bad.jpg", b"x")
    # host.json: poisonBlobThreshold 2 → two tries, then the trigger message is poisoned
    assert len(log_queue.wait_count(2, fn="on_blob")) == 2

    def poisoned() -> dict[str, str] | None:
        for m in poison.peek_messages(max_messages=32):
            body: dict[str, str] = json.loads(base64.b64decode(m.content))
            if body["ContainerName"] == names["SCAN_CONTAINER"]:
                return body
        return None

    body = wait_for(poisoned, 30, "the blob trigger poison message")
    assert body == {
        "Type": "BlobTrigger",
        "FunctionId": "Host.Functions.on_blob",
        "BlobType": "BlockBlob",
        "ContainerName": names["SCAN_CONTAINER"],
        "BlobName": "site1/bad.jpg",
        "ETag": etag if etag.startswith('"') else f'"{etag}"',
    }


def post_event(url: str, kind: str, events: list[dict[str, object]], key: str | None) -> tuple[int, bytes]:
    headers = {"aeg-event-type": kind, "Content-Type": "application/json"}
    if key:
        headers["x-functions-key"] = key
    request = urllib.request.Request(url, data=json.dumps(events).encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_event_grid_webhook_handshake_and_delivery(make_host, storage_connection, names, log_queue):
    host = make_host("blobs", names, extra_args=["--no-emulate-event-grid"]).start()
    url = f"{host.url}/runtime/webhooks/blobs?functionName=Host.Functions.on_event_grid_blob"
    # the subscription validation handshake
    status, body = post_event(
        url, "SubscriptionValidation", [{"data": {"validationCode": "abc-123"}}], "test-master-key"
    )
    assert (status, json.loads(body)) == (200, {"validationResponse": "abc-123"})
    # an unknown event type header is a 400; no key is a 401
    assert post_event(url, "Whatever", [], "test-master-key")[0] == 400
    assert post_event(url, "Notification", [], None)[0] == 401
    # a BlobCreated notification for a blob that exists runs the function
    etag = upload(storage_connection, names["EG_CONTAINER"], "p.jpg", b"abcdef")
    blob_url = f"{storage_connection.split('BlobEndpoint=')[1].split(';')[0]}/{names['EG_CONTAINER']}/p.jpg"
    event: dict[str, object] = {
        "eventType": "Microsoft.Storage.BlobCreated",
        "data": {"url": blob_url, "eTag": etag, "blobType": "BlockBlob"},
    }
    assert post_event(url, "Notification", [event], "test-master-key")[0] == 202
    [record] = log_queue.wait_count(1, fn="on_event_grid_blob")
    assert record == {**record, "name": f"{names['EG_CONTAINER']}/p.jpg", "length": 6}
    # without scanning, nothing else was delivered for that container
    upload(storage_connection, names["EG_CONTAINER"], "q.jpg", b"x")
    upload(storage_connection, names["SCAN_CONTAINER"], "s/marker.jpg", b"x")
    log_queue.wait_count(1, fn="on_blob")  # the scanned function saw its blob, so a scan ran after q.jpg
    assert [r["name"] for r in log_queue.read() if r["fn"] == "on_event_grid_blob"] == [
        f"{names['EG_CONTAINER']}/p.jpg"
    ]


def test_event_grid_notification_without_a_blob_type_is_refused_and_nothing_of_it_queued(
    make_host, storage_connection, names, log_queue
):
    """The blob extension reads `data.blobType` from every event (BlobsExtensionConfigProvider's
    GetBlobTriggerMessage parses it as a BlobType) and fails the delivery without it, so an event posted by
    hand without one, such as a replay, must fail here too instead of running the function."""
    host = make_host("blobs", names, extra_args=["--no-emulate-event-grid"]).start()
    url = f"{host.url}/runtime/webhooks/blobs?functionName=Host.Functions.on_event_grid_blob"
    endpoint = storage_connection.split("BlobEndpoint=")[1].split(";")[0]

    def event(blob: str, etag: str, **blob_type: object) -> dict[str, object]:
        data = {"url": f"{endpoint}/{names['EG_CONTAINER']}/{blob}", "eTag": etag, **blob_type}
        return {"eventType": "Microsoft.Storage.BlobCreated", "data": data}

    first = upload(storage_connection, names["EG_CONTAINER"], "first.jpg", b"abc")
    second = upload(storage_connection, names["EG_CONTAINER"], "second.jpg", b"abcdef")
    block = {"blobType": "BlockBlob"}
    deliveries = {
        "no blob type": [event("first.jpg", first)],
        "a type the extension cannot parse": [event("first.jpg", first, blobType="blockblob")],
        "not a string": [event("first.jpg", first, blobType=1)],
        "one good event beside one without": [event("second.jpg", second, **block), event("first.jpg", first)],
    }
    for case, events in deliveries.items():
        status, body = post_event(url, "Notification", events, "test-master-key")
        assert status == 400, case
        doc = json.loads(body)
        assert doc["reason"] == "bad_request" and "data.blobType" in doc["detail"], case
    # a well-formed delivery after them runs the function, once: none of the refused ones was queued
    assert post_event(url, "Notification", [event("second.jpg", second, **block)], "test-master-key")[0] == 202
    [record] = log_queue.wait_count(1, fn="on_event_grid_blob")
    assert record["name"] == f"{names['EG_CONTAINER']}/second.jpg"
    assert [r["name"] for r in log_queue.read() if r["fn"] == "on_event_grid_blob"] == [record["name"]]


def test_blob_trigger_retries_come_back_at_once_whatever_the_queues_visibility_timeout(
    make_host, storage_connection, names, log_queue
):
    # GIVEN queue functions told to wait ten minutes between tries: the blob trigger's queue takes its options
    # from extensions.blobs alone (a failed try visible again at once), as the Storage extension builds them
    host_json = {
        "version": "2.0",
        "extensions": {
            "queues": {"maxPollingInterval": "00:00:00.200", "visibilityTimeout": "00:10:00"},
            "blobs": {"maxDegreeOfParallelism": 4, "poisonBlobThreshold": 2},
        },
    }
    poison = emptied(storage_connection, "webjobs-blobtrigger-poison")  # earlier tests' would hide this one's
    make_host("blobs", names, host_json=host_json).start()
    upload(storage_connection, names["SCAN_CONTAINER"], "site1/bad.jpg", b"x")
    # THEN both tries ran and the message was poisoned long before ten minutes could pass

    def poisoned() -> bool:
        bodies = [json.loads(base64.b64decode(m.content)) for m in poison.peek_messages(max_messages=32)]
        return any(b["ContainerName"] == names["SCAN_CONTAINER"] for b in bodies)

    wait_for(poisoned, 60, "the second try at once, then the poison message")
    assert len([r for r in log_queue.read() if r["fn"] == "on_blob"]) == 2


def test_event_grid_blob_names_are_decoded_and_function_names_matched_exactly(
    make_host, storage_connection, names, log_queue
):
    host = make_host("blobs", names, extra_args=["--no-emulate-event-grid"]).start()
    endpoint = storage_connection.split("BlobEndpoint=")[1].split(";")[0]

    def notify(function_name: str, blob: str, etag: str) -> int:
        url = f"{endpoint}/{names['EG_CONTAINER']}/{blob}"
        event: dict[str, object] = {"data": {"url": url, "eTag": etag, "blobType": "BlockBlob"}}
        webhook = f"{host.url}/runtime/webhooks/blobs?functionName={function_name}"
        return post_event(webhook, "Notification", [event], "test-master-key")[0]

    # a name that matches a function only by its last part is accepted (202), queued and dropped unrun
    other = upload(storage_connection, names["EG_CONTAINER"], "other.jpg", b"o")
    assert notify("Other.Functions.on_event_grid_blob", "other.jpg", other) == 202
    wait_for(lambda: "unknown function Other.Functions.on_event_grid_blob" in host.log_text(), 30, "the drop")
    # the URL's path is percent-encoded; the function gets the blob's own name ('+' is a plus, not a space)
    etag = upload(storage_connection, names["EG_CONTAINER"], "site 1/p+q é.jpg", b"abc")
    assert notify("Host.Functions.on_event_grid_blob", "site%201/p%2Bq%20%C3%A9.jpg", etag) == 202
    [record] = log_queue.wait_count(1, fn="on_event_grid_blob")
    assert record["name"] == f"{names['EG_CONTAINER']}/site 1/p+q é.jpg" and record["length"] == 3
    assert [r["name"] for r in log_queue.read() if r["fn"] == "on_event_grid_blob"] == [record["name"]]
