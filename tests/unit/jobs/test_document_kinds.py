"""The status document and the webhook payload carry each kind's summary, in the shape openapi.json documents."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import jsonschema_rs
import pytest

from shared.jobs import document
from shared.jobs.outbox import WebhookOutbox
from shared.webhooks.models import Event
from shared.webhooks.service import WebhookService
from sitelens import jobs_command
from tests.unit.jobs.kinds_support import classify_result, detect_result, finish_with, ocr_result
from tests.unit.jobs.test_pipeline import World

SPEC = json.loads((Path(__file__).resolve().parents[3] / "openapi.json").read_text())


def validator(name: str) -> Any:
    return jsonschema_rs.Draft202012Validator(
        {"$ref": f"#/components/schemas/{name}", "components": SPEC["components"]}
    )


JOB, SUMMARY = validator("Job"), validator("ResultSummary")
EVENT = jsonschema_rs.Draft202012Validator(
    {**SPEC["webhooks"]["job"]["post"]["requestBody"]["content"]["application/json"]["schema"],
     "components": SPEC["components"]})  # fmt: skip


class Events:
    """Stands in for the webhook service: keeps the events the outbox records."""

    def __init__(self) -> None:
        self.published: list[Event] = []

    def record(self, event: Event) -> list[tuple[str, str]]:
        self.published.append(event)
        return []


@pytest.fixture
def world() -> World:
    return World()


@pytest.mark.parametrize(("make", "kind"), [(ocr_result, "ocr"), (classify_result, "classify"),
                                            (detect_result, "detect")])  # fmt: skip
def test_each_kinds_status_document_and_webhook_payload_match_openapi_json(world, make, kind):
    job = world.ingestion.ingest(world.upload(1))
    done = finish_with(world, job, make(job.id))
    status = document.public(done, {"result": "http://127.0.0.1/r", "overlay": "http://127.0.0.1/o"})
    [(_, payload)] = list(world.outbox.events.values())
    for doc in (status, payload):
        assert doc["result"]["summary"]["kind"] == kind
        errors = [f"{e.instance_path}: {e.message}" for e in JOB.iter_errors(doc)]
        assert not errors, errors
    events = Events()
    WebhookOutbox(cast("WebhookService", events), world.clock).record("evt_1", done, payload)
    body = json.loads(events.published[0].body)  # the bytes every delivery attempt sends
    assert body["data"]["result"]["summary"]["kind"] == kind
    assert not [f"{e.instance_path}: {e.message}" for e in EVENT.iter_errors(body)]


def test_an_ocr_summary_stored_before_kinds_existed_is_shown_as_ocr(world):
    job = world.ingestion.ingest(world.upload(1))
    done = finish_with(world, job, ocr_result(job.id))
    old = replace(done, summary={k: v for k, v in done.summary.items() if k != "kind"})
    doc = document.public(old)
    assert doc["result"]["summary"] == done.summary
    assert JOB.is_valid(doc)


@pytest.mark.parametrize(
    "summary",
    [
        {"kind": "classify", "lines": 2, "text": ["A"], "width": 1, "height": 1},  # OCR's members under classify
        {"kind": "detect", "width": 1, "height": 1, "boxes": [{"box": [0, 0, 1, 1]}], "best": []},  # boxes: a count
        {"kind": "segment", "width": 1, "height": 1},
        {"kind": "classify", "width": 1, "height": 1, "labels": [{"label": "a", "score": 3.0}]},
    ],
)
def test_the_documented_summary_refuses_a_shape_no_kind_has(summary):
    """The schema is a real contract: a summary mixing kinds, or of an unknown kind, does not validate."""
    assert not SUMMARY.is_valid(summary)


@pytest.mark.parametrize(
    ("make", "shown"),
    [
        (ocr_result, ["  | LINE 0", "  | LINE 2"]),
        (classify_result, ["  | class-0  0.50", "  | class-4  0.03"]),
        (detect_result, ["  | 12 boxes", "  | gauge  0.95  [0, 5, 40, 60]", "  | valve  0.90  [10, 5, 50, 60]"]),
    ],
)
def test_sitelens_jobs_get_shows_what_each_kind_read(world, make, shown):
    job = world.ingestion.ingest(world.upload(1))
    text = jobs_command.describe(document.public(finish_with(world, job, make(job.id))))
    assert all(line in text.splitlines() for line in shown), text
