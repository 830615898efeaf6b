"""Test app: a scanned blob trigger and an Event Grid blob trigger that record deliveries."""

import json
import os
import time

import azure.functions as func
from azure.storage.queue import QueueClient

app = func.FunctionApp()


def record(**fields: object) -> None:
    log = QueueClient.from_connection_string(os.environ["AzureWebJobsStorage"], os.environ["LOG_QUEUE"])
    log.send_message(json.dumps({"at": time.time(), **fields}))


@app.blob_trigger(arg_name="blob", path="%SCAN_CONTAINER%/{site}/{name}", connection="AzureWebJobsStorage")
@app.blob_output(arg_name="copy", path="%COPY_CONTAINER%/{site}/{name}.len", connection="AzureWebJobsStorage")
def on_blob(blob: func.InputStream, copy: func.Out[str]) -> None:
    record(fn="on_blob", name=blob.name, length=blob.length)
    if "bad" in (blob.name or ""):
        raise RuntimeError("bad blob")
    copy.set(str(len(blob.read())))


@app.blob_trigger(
    arg_name="blob", path="%EG_CONTAINER%/{name}", connection="AzureWebJobsStorage", source=func.BlobSource.EVENT_GRID
)
def on_event_grid_blob(blob: func.InputStream) -> None:
    record(fn="on_event_grid_blob", name=blob.name, length=blob.length)
