"""Test app: queue triggers that record each attempt and fail on request."""

import json
import os
import time

import azure.functions as func
from azure.storage.queue import QueueClient

app = func.FunctionApp()


def record(**fields: object) -> None:
    log = QueueClient.from_connection_string(os.environ["AzureWebJobsStorage"], os.environ["LOG_QUEUE"])
    log.send_message(json.dumps({"at": time.time(), **fields}))


@app.function_name("flaky")
@app.queue_trigger(arg_name="msg", queue_name="%WORK_QUEUE%", connection="AzureWebJobsStorage")
@app.queue_output(arg_name="out", queue_name="%OUT_QUEUE%", connection="AzureWebJobsStorage")
def flaky(msg: func.QueueMessage, out: func.Out[str]) -> None:
    body = msg.get_body().decode()
    record(
        fn="flaky",
        body=body,
        id=msg.id,
        dequeue_count=msg.dequeue_count,
        inserted=msg.insertion_time.isoformat() if msg.insertion_time else None,
    )
    if body.startswith("fail"):
        raise RuntimeError("asked to fail")
    out.set(body.upper())


@app.queue_trigger(arg_name="msg", queue_name="%RETURN_QUEUE%", connection="AzureWebJobsStorage")
def returns_value(msg: str) -> str:
    record(fn="returns_value", body=msg)
    return "a queue function may not return a value"
