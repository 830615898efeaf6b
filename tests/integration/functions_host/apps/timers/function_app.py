"""Test app: a frequent timer, a yearly one that runs on start-up, and a monitored one."""

import json
import os
import time

import azure.functions as func
from azure.storage.queue import QueueClient

app = func.FunctionApp()


def record(**fields: object) -> None:
    log = QueueClient.from_connection_string(os.environ["AzureWebJobsStorage"], os.environ["LOG_QUEUE"])
    log.send_message(json.dumps({"at": time.time(), **fields}))


@app.timer_trigger(arg_name="timer", schedule="*/1 * * * * *")
def every_second(timer: func.TimerRequest) -> None:
    record(fn="every_second", past_due=timer.past_due)


@app.timer_trigger(arg_name="timer", schedule="0 0 0 1 1 *", run_on_startup=True)
def yearly_on_startup(timer: func.TimerRequest) -> None:
    record(fn="yearly_on_startup", past_due=timer.past_due)


# Monitored (its period is over a minute) and yearly, so that no occurrence of its own falls in a test: only a
# missed one the test records runs it.
@app.timer_trigger(arg_name="timer", schedule="0 0 0 1 1 *")
def yearly_monitored(timer: func.TimerRequest) -> None:
    record(fn="yearly_monitored", past_due=timer.past_due)
