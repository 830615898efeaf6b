"""SDK-type blob bindings through the host: the function gets the extension's BlobClient, never the content."""

from __future__ import annotations

import pytest
from azure.storage.blob import BlobServiceClient

pytestmark = pytest.mark.integration


def test_trigger_and_input_receive_clients_built_by_the_extension(make_host, storage_connection, unique, log_queue):
    container = f"sdk-{unique}"
    service = BlobServiceClient.from_connection_string(storage_connection)
    service.create_container(container)
    service.create_container(f"{container}-meta")
    service.get_blob_client(f"{container}-meta", "site1-a.jpg.json").upload_blob(b"{}")
    make_host("sdkblobs", {"SDK_CONTAINER": container}).start()

    service.get_blob_client(container, "site1-a.jpg").upload_blob(b"\xff\xd8\xff\xe0" + b"x" * 1000)

    [got] = log_queue.wait_count(1, fn="on_sdk_blob")
    # The real package's client (azure.storage.blob), pointed at the blob by the host's reference ...
    assert got["type"] == "azure.storage.blob._blob_client.BlobClient"
    assert (got["container"], got["name"]) == (container, "site1-a.jpg")
    # ... and working against Azurite through the connection setting the app has in its environment.
    assert (got["size"], got["head"]) == (1004, "\xff\xd8\xff\xe0")
    # An input binding marked deferred is a reference too, its path rendered from the trigger's captures.
    assert (got["sidecar"], got["sidecar_exists"]) == ("site1-a.jpg.json", True)
