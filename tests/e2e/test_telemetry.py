"""One photo's trace across every process of the local stack, and the counters the app exports.

Real parts: `sitelens upload` as a field device runs it (its own process and span), the Functions host with
function_app.py, the Batch service's node server, a loopback webhook receiver; the spans are read back with
`sitelens trace JOB --json`, the counters from the files the processes export.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from batch_tasks.telemetry import parse_traceparent
from sitelens.field_photos import bad_files, render
from sitelens.trace_reader import total
from tests.e2e.conftest import REPO, Pipeline
from tests.support.receiver import Receiver
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture
def subscribed(pipeline: Pipeline) -> Iterator[tuple[Receiver, str]]:
    """A loopback receiver answering 200, subscribed to one new site."""
    site = f"trace-{uuid.uuid4().hex[:8]}"
    with Receiver() as receiver:
        created = pipeline.http("POST", "/subscriptions", body=json.dumps({"url": receiver.url, "site": site}).encode(),
                                headers={"Content-Type": "application/json"})  # fmt: skip
        assert created.status == 201 and created.body is not None
        try:
            yield receiver, site
        finally:
            pipeline.http("DELETE", f"/subscriptions/{created.body['id']}")


def upload(pipeline: Pipeline, path: Path, site: str) -> str:
    """`sitelens upload` in its own process, against this stack; returns the job id."""
    run = subprocess.run(
        [sys.executable, "-m", "sitelens", "upload", str(path), "--site", site, "--device", "cam-1", "--json",
         "--state-dir", str(pipeline.stack.state_dir)],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    return str(json.loads(run.stdout)[0]["job_id"])


def trace(pipeline: Pipeline, job_id: str) -> list[dict[str, Any]]:
    run = subprocess.run(
        [sys.executable, "-m", "sitelens", "trace", job_id, "--json", "--state-dir", str(pipeline.stack.state_dir)],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    spans: list[dict[str, Any]] = json.loads(run.stdout)
    return spans


def test_one_trace_covers_upload_app_node_and_webhook_and_the_receiver_gets_its_traceparent(
    pipeline: Pipeline, subscribed: tuple[Receiver, str], tmp_path: Path
) -> None:
    receiver, site = subscribed
    photo = tmp_path / "gate.jpg"
    photo.write_bytes(render(21).jpeg)
    job_id = upload(pipeline, photo, site)
    assert pipeline.wait_terminal(job_id)["state"] == "SUCCEEDED"
    [hook] = receiver.wait_for(1, timeout=60)
    traceparent = parse_traceparent(hook.headers.get("traceparent"))
    assert traceparent is not None, hook.headers
    trace_id = traceparent.split("-")[1]

    def complete() -> list[dict[str, Any]] | None:
        spans = trace(pipeline, job_id)
        names = {s["name"] for s in spans if s["trace_id"] == trace_id}
        return spans if {"upload", "ingest", "node.job", "complete", "webhook.deliver"} <= names else None

    spans = wait_for(complete, 30, "every process's spans exported")
    ours = [s for s in spans if s["trace_id"] == trace_id]
    assert {s["service"] for s in ours} >= {"sitelens-upload", "sitelens-app", "sitelens-node"}
    by_name = {s["name"]: s for s in ours}
    assert by_name["upload"]["parent_span_id"] is None  # the device's span is the root
    assert by_name["ingest"]["parent_span_id"] == by_name["upload"]["span_id"]  # through the blob's metadata
    assert by_name["node.job"]["attributes"]["sitelens.job_id"] == job_id
    # the receiver's traceparent names the span of the attempt that sent it (a duplicate message's attempt, which
    # found the delivery taken, has a span of its own)
    [sent] = [s for s in ours if s["name"] == "webhook.deliver" and s["attributes"]["sitelens.outcome"] == "delivered"]
    assert traceparent.split("-")[2] == sent["span_id"]
    infer = {s["span_id"] for s in ours if s["name"] == "infer"}
    batches = [s for s in spans if s["name"] == "node.batch"]
    assert any(link["trace_id"] == trace_id and link["span_id"] in infer for b in batches for link in b["links"])
    assert all(s["status"] != "error" for s in ours), [s for s in ours if s["status"] == "error"]


def test_a_rejected_photo_ends_with_its_reason_and_the_counters_match(pipeline: Pipeline, tmp_path: Path) -> None:
    site = f"trace-{uuid.uuid4().hex[:8]}"  # its own site: the counters below are this test's alone
    good, bad = tmp_path / "good.jpg", tmp_path / "cut.jpg"
    good.write_bytes(render(22).jpeg)
    bad.write_bytes(bad_files()["truncated.jpg"][0])
    accepted, rejected = upload(pipeline, good, site), upload(pipeline, bad, site)
    assert pipeline.wait_terminal(accepted)["state"] == "SUCCEEDED"
    assert pipeline.wait_terminal(rejected)["reason"] == "corrupt_image"

    def ended() -> list[dict[str, Any]] | None:
        spans = [s for s in trace(pipeline, rejected) if s["name"] != "node.batch"]
        return spans if spans and spans[-1]["name"] == "reject" else None

    spans = wait_for(ended, 30, "the rejected photo's spans exported")
    last = spans[-1]
    assert (last["status"], last["attributes"]["sitelens.reason"]) == ("error", "corrupt_image")
    assert not [s for s in spans if s["name"].startswith("node.")]  # no task ran for it
    folder = pipeline.stack.telemetry_dir

    def counted() -> tuple[float, ...] | None:
        got = tuple(total(folder, f"sitelens.photos.{name}", site=site)
                    for name in ("received", "rejected", "succeeded", "failed"))  # fmt: skip
        return got if got == (2, 1, 1, 0) else None

    wait_for(counted, 30, "received 2, rejected 1, succeeded 1, failed 0 exported")
    assert total(folder, "sitelens.photos.rejected", site=site, reason="corrupt_image") == 1
