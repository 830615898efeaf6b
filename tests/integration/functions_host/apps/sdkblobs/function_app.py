"""Test app: SDK-type blob bindings (the blob extension's clients) on a blob trigger and a blob input."""

import json
import os
import time

import azure.functions as func
from azure.storage.queue import QueueClient
from azurefunctions.extensions.bindings import blob  # type: ignore[import-untyped]

app = func.FunctionApp()


def record(**fields: object) -> None:
    log = QueueClient.from_connection_string(os.environ["AzureWebJobsStorage"], os.environ["LOG_QUEUE"])
    log.send_message(json.dumps({"at": time.time(), **fields}))


@app.blob_trigger(arg_name="photo", path="%SDK_CONTAINER%/{name}", connection="AzureWebJobsStorage")
@app.blob_input(arg_name="sidecar", path="%SDK_CONTAINER%-meta/{name}.json", connection="AzureWebJobsStorage")
def on_sdk_blob(photo: blob.BlobClient, sidecar: blob.BlobClient) -> None:
    # Both are clients the extension built; reading through them goes to Azurite with the app's connection.
    head = photo.download_blob(offset=0, length=4).readall()
    record(
        fn="on_sdk_blob",
        type=f"{type(photo).__module__}.{type(photo).__qualname__}",
        container=photo.container_name,
        name=photo.blob_name,
        size=photo.get_blob_properties().size,
        head=head.decode("latin-1"),
        sidecar=sidecar.blob_name,
        sidecar_exists=sidecar.exists(),
    )
