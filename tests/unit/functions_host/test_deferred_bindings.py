"""SDK-type (deferred) bindings: the worker's rule for enabling them, and the reference the host hands over.

The Python worker that indexes apps in Azure is not published for Python 3.11 (it ships inside the
Functions host image; the runtime libraries on PyPI need Python 3.13), so these tests hold the host's index
to the worker's rule (`Registry.validate_function_params` with `check_deferred_bindings_enabled`), which
asks the base extension's registry, the same package the worker asks.
"""

# No `from __future__ import annotations`: the parametrized annotations must be evaluated at definition.
import json
from pathlib import Path

import azure.functions as func
import pytest
from azure.identity import ManagedIdentityCredential
from azure.storage.blob import BlobClient as StorageBlobClient
from azurefunctions.extensions.bindings import blob  # type: ignore[import-untyped]

from emulators.functions_host import deferred_bindings
from emulators.functions_host.index import IndexingError, index_app, load_app
from shared.config import dev_storage_connection_string

REPO = Path(__file__).resolve().parents[3]


def test_the_real_apps_blob_trigger_has_deferred_bindings_enabled():
    specs = {s.name: s for s in index_app(load_app(REPO))}
    photo = specs["on_photo_uploaded"]
    assert photo.deferred_bindings_enabled
    assert photo.trigger.deferred
    # what the worker sends the host for this binding: the flag that makes the host send a reference
    assert photo.trigger.raw["properties"] == {"SupportsDeferredBinding": True}
    assert photo.trigger.get("source") == "EventGrid" and photo.trigger.get("path") == "photos/{name}"
    # every other function keeps the SDK's raw bindings: no flag, content as before
    others = [s for s in specs.values() if s is not photo]
    assert others and not any(s.deferred_bindings_enabled or s.trigger.deferred for s in others)
    assert all("properties" not in s.trigger.raw for s in others)


@pytest.mark.parametrize("annotation", [func.InputStream, bytes, str])
def test_content_annotations_do_not_enable_deferred_bindings(annotation):
    app = func.FunctionApp()

    @app.blob_trigger(arg_name="photo", path="photos/{name}", connection="AzureWebJobsStorage")
    def work(photo: annotation) -> None: ...  # type: ignore[valid-type]

    [spec] = index_app(app)
    assert not spec.deferred_bindings_enabled and not spec.trigger.deferred


@pytest.mark.parametrize("annotation", [blob.BlobClient, blob.ContainerClient, blob.StorageStreamDownloader])
def test_one_sdk_type_enables_the_function_and_marks_only_its_own_binding(annotation):
    app = func.FunctionApp()

    @app.queue_trigger(arg_name="msg", queue_name="q", connection="AzureWebJobsStorage")
    @app.blob_input(arg_name="photo", path="photos/{queueTrigger}", connection="AzureWebJobsStorage")
    def work(msg: func.QueueMessage, photo: annotation) -> None: ...  # type: ignore[valid-type]

    [spec] = index_app(app)
    assert spec.deferred_bindings_enabled
    [photo] = spec.inputs()
    assert photo.deferred and photo.raw["properties"] == {"SupportsDeferredBinding": True}
    assert not spec.trigger.deferred and spec.trigger.raw["properties"] == {"SupportsDeferredBinding": False}


def test_an_sdk_type_on_a_binding_without_a_converter_is_refused():
    app = func.FunctionApp()

    @app.queue_trigger(arg_name="msg", queue_name="q", connection="AzureWebJobsStorage")
    def work(msg: blob.BlobClient) -> None: ...

    with pytest.raises(IndexingError, match=r'type of msg binding "queueTrigger" does not match .*"BlobClient"'):
        index_app(app)


def reference(connection: str | None = "AzureWebJobsStorage") -> object:
    datum = deferred_bindings.blob_reference(connection, "photos", "site1/cam1/IMG1.jpg")
    assert datum.type == "model_binding_data" and datum.value.source == "AzureStorageBlobs"
    return datum


def test_the_reference_carries_what_the_host_sends_and_no_content():
    data = reference().value  # type: ignore[attr-defined]
    assert (data.version, data.content_type) == ("1.0", "application/json")
    assert json.loads(data.content) == {
        "Connection": "AzureWebJobsStorage",
        "ContainerName": "photos",
        "BlobName": "site1/cam1/IMG1.jpg",
    }


def test_the_extensions_converter_builds_a_client_from_the_connection_string(monkeypatch):
    monkeypatch.setenv("AzureWebJobsStorage", dev_storage_connection_string(ports=(41000, 41001, 41002)))
    client = deferred_bindings.decode("blobTrigger", reference(), blob.BlobClient, {"BlobTrigger": "photos/x"})
    assert isinstance(client, StorageBlobClient)
    assert (client.container_name, client.blob_name) == ("photos", "site1/cam1/IMG1.jpg")
    assert client.url == "http://127.0.0.1:41000/devstoreaccount1/photos/site1/cam1/IMG1.jpg"


def test_azures_identity_settings_give_a_managed_identity_client(monkeypatch):
    # The deployment's settings (infra/modules/functions.bicep): endpoints, credential and client id.
    monkeypatch.delenv("AzureWebJobsStorage", raising=False)
    monkeypatch.setenv("AzureWebJobsStorage__blobServiceUri", "https://sitelensdata.blob.core.windows.net")
    monkeypatch.setenv("AzureWebJobsStorage__credential", "managedidentity")
    monkeypatch.setenv("AzureWebJobsStorage__clientId", "00000000-0000-0000-0000-000000000001")
    client = deferred_bindings.decode("blobTrigger", reference(), blob.BlobClient, {})
    assert client.url == "https://sitelensdata.blob.core.windows.net/photos/site1/cam1/IMG1.jpg"
    assert isinstance(client.credential, ManagedIdentityCredential)


def test_a_connection_setting_that_is_missing_fails_the_conversion(monkeypatch):
    monkeypatch.delenv("Missing", raising=False)
    with pytest.raises(ValueError, match="Storage account connection name Missing does not exist"):
        deferred_bindings.decode("blobTrigger", reference("Missing"), blob.BlobClient, {})
