"""What the real storage and identity SDKs raise for answers that are not plain statuses, through the one
mapping: a scripted loopback service answers as Azure does (a body cut off, a role refusal, a copy source
that could not be checked in time), and a closed port stands in for an identity endpoint that does not answer.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.identity import ManagedIdentityCredential
from azure.storage.blob import BlobServiceClient

from batch_tasks.errors import NodeError
from batch_tasks.node.storage import translated as node_translated
from emulators.azurite import free_port
from shared.adapters.azure_errors import service_code
from shared.adapters.azure_photo_store import BlobPhotoStore
from shared.config import DEV_KEY
from shared.errors import NotFound, PermanentError, TransientError
from tests.support.scripted_http import Answer, ScriptedServer

ACCOUNT = "devstoreaccount1"
NAME = "north-yard/cam-1/2026/11/22/IMG_1.jpg"
PHOTO = f"/{ACCOUNT}/photos/{NAME}"
QUARANTINED = f"/{ACCOUNT}/quarantine/{NAME}"
ETAG = '"0x1"'
# The headers of a 100-byte ranged read whose body stops after 10 bytes: the connection drops mid-body.
CUT_OFF: Answer = (206, {"Content-Range": "bytes 0-99/100", "x-ms-blob-type": "BlockBlob", "ETag": ETAG},
                   b"x" * 10, 100)  # fmt: skip
PROPERTIES: Answer = (200, {"ETag": ETAG, "x-ms-blob-type": "BlockBlob", "x-ms-lease-state": "available",
                            "x-ms-lease-status": "unlocked"}, b"", None)  # fmt: skip


def refusal(status: int, code: str) -> Answer:
    body = f'<?xml version="1.0" encoding="utf-8"?><Error><Code>{code}</Code><Message>m</Message></Error>'.encode()
    return status, {"x-ms-error-code": code, "Content-Type": "application/xml"}, body, len(body)


@pytest.fixture
def storage() -> Iterator[ScriptedServer]:
    server = ScriptedServer(refusal(500, "InternalError"), route=lambda path: path.split("?", 1)[0])
    handler = server.server.RequestHandlerClass
    handler.do_HEAD = handler.do_PUT = handler.do_GET  # type: ignore[attr-defined]  # properties, copies
    yield server
    server.close()


@pytest.fixture
def photos(storage: ScriptedServer) -> BlobPhotoStore:
    credential = {"account_name": ACCOUNT, "account_key": DEV_KEY}
    service = BlobServiceClient(f"{storage.origin}/{ACCOUNT}", credential=credential, retry_total=0)
    return BlobPhotoStore(service, account_key=DEV_KEY, https_only=False)


def test_a_read_whose_body_is_cut_off_is_transient_in_the_app_and_on_the_node(storage, photos):
    storage.script[PHOTO] = [CUT_OFF]
    with pytest.raises(TransientError) as caught:
        photos.read_photo(NAME, ETAG, 100)
    cause = caught.value.__cause__
    assert type(cause) is HttpResponseError and cause.status_code is None  # what the SDK raises: no status
    assert [method for method, *_ in storage.seen] == ["GET"] * 3  # the SDK's own retries of the body came first
    with pytest.raises(NodeError) as node_caught, node_translated("downloading model ocr/v1"):
        raise cause
    assert node_caught.value.code == "storage_transient"


def test_a_read_the_apps_role_does_not_allow_is_not_authorised(storage, photos):
    storage.script[PHOTO] = [refusal(403, "AuthorizationPermissionMismatch")]
    with pytest.raises(PermanentError) as caught:
        photos.read_photo(NAME, ETAG, 100)
    assert caught.value.reason == "not_authorised" and service_code(caught.value) == "AuthorizationPermissionMismatch"


def test_a_copy_source_the_service_could_not_check_in_time_is_transient_not_already_moved(storage, photos):
    storage.script[PHOTO] = [PROPERTIES]
    storage.script[QUARANTINED] = [refusal(500, "CannotVerifyCopySource")]
    with pytest.raises(TransientError) as caught:
        photos.quarantine(NAME, ETAG, "unsupported_type", "not an image")
    assert not isinstance(caught.value, NotFound)  # ingestion takes NotFound for "already moved"
    assert isinstance(caught.value.__cause__, ResourceNotFoundError)  # the SDK's class, from the code alone
    assert [method for method, *_ in storage.seen] == ["HEAD", "PUT"]  # nothing deleted from photos/


def test_a_managed_identity_endpoint_that_does_not_answer_is_transient(monkeypatch):
    closed = f"http://127.0.0.1:{free_port()}"
    for other in ("IDENTITY_ENDPOINT", "IDENTITY_HEADER", "MSI_ENDPOINT", "AZURE_FEDERATED_TOKEN_FILE"):
        monkeypatch.delenv(other, raising=False)  # so the credential asks IMDS, as on a Batch node
    monkeypatch.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", closed)  # where ImdsCredential asks for a token
    service = BlobServiceClient(f"https://127.0.0.1:{free_port()}", credential=ManagedIdentityCredential(retry_total=0),
                                retry_total=0)  # fmt: skip
    photos = BlobPhotoStore(service, account_key=None, https_only=True)
    with pytest.raises(TransientError) as caught:
        photos.read_photo(NAME, ETAG, 100)
    assert type(caught.value.__cause__).__name__ == "CredentialUnavailableError"
    with pytest.raises(NodeError) as node_caught, node_translated("writing results/j_a/result.json"):
        service.get_blob_client("results", "j_a/result.json").exists()
    assert node_caught.value.code == "storage_transient"
