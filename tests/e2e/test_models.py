"""Bring your own model, end to end on the local stack: model folders made, published and routed per site with
the CLI, photos uploaded as a device would, each site's photos read by its models on the pool's nodes.

Four sites: `colour-yard` split 50/50 between two versions of a tiny colour classifier, `parts-yard` read by a
tiny detector, `direction-yard` read by PP-OCR's text-direction classifier (a real model, made a classify
model folder by `sitelens models init`), and `plain-yard`, with no routes of its own, still read by OCR.
Every photo is uploaded before any test waits, so the pool reads them together; names are fixed, so which
version the stable hash gives each job is known before it runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema_rs
import numpy as np
import pytest

from batch_tasks.models import trial
from batch_tasks.ocr.opencv import cv2
from shared.jobs import routing
from shared.jobs.ids import job_id_for
from sitelens import demo_models
from sitelens.field_photos import render
from tests.e2e.conftest import REPO, SETTINGS, Pipeline
from tests.integration.ocr.photos import canon
from tests.support.onnx_models import write_classify_model, write_detect_model

pytestmark = pytest.mark.e2e
SPLIT, PARTS, DIRECTION, PLAIN = "colour-yard", "parts-yard", "direction-yard", "plain-yard"
COLOURS_A, COLOURS_B, DEFECTS, TEXT_DIRECTION = "colours/1.0.0", "colours/1.1.0", "defects/1.0.0", "text-direction/2.0"
CLS_ONNX = REPO / "models" / "ocr" / "ppocrv4" / "ch_ppocr_mobile_v2.0_cls_infer.onnx"
SPLIT_PHOTOS = 12
DETECT_SIZE = (480, 640)  # height, width of the detector's photos
SPEC = json.loads((REPO / "openapi.json").read_text())
EVENT_SCHEMA = SPEC["webhooks"]["job"]["post"]["requestBody"]["content"]["application/json"]["schema"]
EVENT = jsonschema_rs.Draft202012Validator({**EVENT_SCHEMA, "components": SPEC["components"]})


@dataclass
class Uploaded:
    split: dict[str, str]  # job id -> the version the stable hash routes it to
    parts: list[str]
    direction: dict[str, str]  # job id -> the label its text line deserves ("0" upright, "180" upside down)
    plain: tuple[str, list[str]]  # job id, the lines drawn on the photo


def sitelens(*args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("SITELENS_API", "SITELENS_API_KEY")}
    done = subprocess.run([sys.executable, "-m", "sitelens", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout


def jpeg(image: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 92])
    assert ok
    return data.tobytes()


def reddish(seed: int) -> bytes:
    """A red photo; its noise makes its bytes its own (the same bytes twice would be one cached result)."""
    noise = np.random.default_rng(seed).integers(-25, 25, (240, 320, 3))
    return jpeg(np.clip(np.array([30, 30, 210]) + noise, 0, 255).astype(np.uint8))  # BGR


def grey(seed: int) -> bytes:
    return jpeg(np.random.default_rng(seed).integers(90, 160, (*DETECT_SIZE, 3)).astype(np.uint8))


def name(site: str, photo: str) -> str:
    return f"{site}/cam-1/2026/12/06/{photo}.jpg"


def publish_and_route(pipeline: Pipeline, folder: Path) -> None:
    assert pipeline.stack.azurite is not None
    storage = ("--connection-string", pipeline.stack.azurite.connection_string)
    labels = folder / "direction-labels.txt"
    labels.write_text("0\n180\n")
    sitelens("models", "init", "--kind", "classify", "--onnx", str(CLS_ONNX), "--labels", str(labels),
             "--name", "text-direction", "--version", "2.0", "--out", str(folder / "direction"),
             *demo_models.INIT_FLAGS)  # fmt: skip
    folders = [
        write_classify_model(folder / "colours-a", name="colours", version="1.0.0"),
        write_classify_model(folder / "colours-b", name="colours", version="1.1.0"),
        write_detect_model(folder / "defects", name="defects", version="1.0.0"),
        folder / "direction",
    ]
    for model_folder in folders:
        sitelens("models", "publish", str(model_folder), *storage)
    for site, model, weight in ((SPLIT, COLOURS_A, 50), (SPLIT, COLOURS_B, 50), (PARTS, DEFECTS, 100),
                                (DIRECTION, TEXT_DIRECTION, 100)):  # fmt: skip
        sitelens("models", "route", "--site", site, "--model", model.replace("/", ":"), "--weight", str(weight),
                 *storage)  # fmt: skip


def routes_in_storage(pipeline: Pipeline) -> routing.RoutingTable:
    blob = pipeline.blobs.get_blob_client("models", "routing.json")
    return routing.parse_table(blob.download_blob().readall())


@pytest.fixture(scope="module")
def uploaded(pipeline: Pipeline, tmp_path_factory: pytest.TempPathFactory) -> Uploaded:
    publish_and_route(pipeline, tmp_path_factory.mktemp("models"))
    # Ingestion re-reads routing.json at most once a minute; a host started now reads this one at once.
    pipeline.stack.restart_functions(env=dict(SETTINGS))
    table = routes_in_storage(pipeline)
    split_names = [name(SPLIT, f"red-{n:02d}") for n in range(SPLIT_PHOTOS)]
    split = {job_id_for(n): routing.choose(job_id_for(n), table.for_site(SPLIT), "ocr/ppocrv4") for n in split_names}
    assert set(split.values()) == {COLOURS_A, COLOURS_B}, "these fixed names all hash to one version"
    for n, blob_name in enumerate(split_names):
        pipeline.put(blob_name, reddish(n))
    parts = [pipeline.put(name(PARTS, f"pipe-{n}"), grey(n)) for n in range(2)]
    direction = {pipeline.put(name(DIRECTION, "upright"), demo_models.text_line("PUMP P-104", False)): "0",
                 pipeline.put(name(DIRECTION, "flipped"), demo_models.text_line("MAX 415 V", True)): "180"}  # fmt: skip
    photo = render(31)
    plain = (pipeline.put(name(PLAIN, "nameplate"), photo.jpeg), [line.text for line in photo.lines])
    return Uploaded(split, parts, direction, plain)


def succeeded(pipeline: Pipeline, job_id: str) -> dict[str, Any]:
    job = pipeline.wait_terminal(job_id, timeout=180)
    assert job["state"] == "SUCCEEDED", (job_id, job["reason"], job["detail"])
    return job


def result_document(job: dict[str, Any]) -> dict[str, Any]:
    with urllib.request.urlopen(job["result"]["links"]["result"], timeout=10) as r:  # the API's own read SAS
        doc: dict[str, Any] = json.loads(r.read())
    return doc


def webhook_body(pipeline: Pipeline, job_id: str) -> dict[str, Any]:
    [event] = pipeline.events(job_id)
    body: dict[str, Any] = json.loads(event["Body"])
    assert not [f"{e.instance_path}: {e.message}" for e in EVENT.iter_errors(body)]  # openapi.json's webhook
    return body


def test_a_50_50_split_reads_a_dozen_photos_with_both_versions_each_job_naming_its_own(pipeline, uploaded):
    jobs = {job_id: succeeded(pipeline, job_id) for job_id in uploaded.split}
    assert {job_id: job["model"] for job_id, job in jobs.items()} == uploaded.split  # the stable hash, recorded
    assert set(uploaded.split.values()) == {COLOURS_A, COLOURS_B}
    for job_id, job in jobs.items():
        summary = job["result"]["summary"]
        assert summary["kind"] == "classify" and summary["labels"][0]["label"] == "red", summary
        assert (summary["width"], summary["height"]) == (320, 240)
        doc = result_document(job)
        assert doc["schema"] == "sitelens.classify.result/1"
        assert f"{doc['model']['name']}/{doc['model']['version']}" == job["model"]  # the node ran the job's model
        assert doc["result"]["labels"][0]["label"] == "red" and len(doc["result"]["labels"]) == 3
        assert webhook_body(pipeline, job_id)["data"]["result"]["summary"] == summary


def test_a_detect_sites_photos_get_boxes_in_photo_pixels_and_take_corrected_boxes(pipeline, uploaded):
    for job_id in uploaded.parts:
        job = succeeded(pipeline, job_id)
        assert job["model"] == DEFECTS
        summary = job["result"]["summary"]
        assert (summary["kind"], summary["boxes"]) == ("detect", 1), summary
        [best] = summary["best"]
        # The model finds one crack, centred, half its 64 x 64 input; letterboxed from 640 x 480, that is
        # 320 x 320 photo pixels around the photo's centre.
        assert (best["label"], best["class_id"]) == ("crack", 0) and best["score"] == pytest.approx(0.9, abs=1e-3)
        assert best["box"] == pytest.approx([160, 80, 480, 400], abs=2)
        doc = result_document(job)
        assert doc["schema"] == "sitelens.detect.result/1" and doc["result"]["boxes"][0]["box"] == best["box"]
        assert webhook_body(pipeline, job_id)["data"]["result"]["summary"]["boxes"] == 1
    job_id = uploaded.parts[0]
    corrected = {"boxes": [{"label": "crack", "box": [150, 90, 470, 380]}, {"label": "rust", "box": [0, 0, 60, 40]}]}
    assert pipeline.http("POST", f"/jobs/{job_id}/feedback", body=json.dumps(corrected).encode()).status == 201
    wrong = pipeline.http("POST", f"/jobs/{job_id}/feedback", body=json.dumps({"label": "crack"}).encode())
    assert (wrong.status, (wrong.body or {}).get("reason")) == (400, "feedback_wrong_kind")


def test_the_text_direction_classifier_reads_which_way_up_each_line_is(pipeline, uploaded):
    for job_id, label in uploaded.direction.items():
        job = succeeded(pipeline, job_id)
        assert job["model"] == TEXT_DIRECTION
        top = job["result"]["summary"]["labels"][0]
        assert top["label"] == label and top["score"] > 0.9, job["result"]["summary"]
        assert webhook_body(pipeline, job_id)["data"]["result"]["summary"]["kind"] == "classify"
    job_id = next(iter(uploaded.direction))
    assert pipeline.http("POST", f"/jobs/{job_id}/feedback", body=b'{"label": "0"}').status == 201
    boxes = pipeline.http("POST", f"/jobs/{job_id}/feedback", body=b'{"boxes": []}')
    assert (boxes.status, (boxes.body or {}).get("reason")) == (400, "feedback_wrong_kind")


def test_a_site_without_routes_of_its_own_is_still_read_by_ocr(pipeline, uploaded):
    job_id, lines = uploaded.plain
    job = succeeded(pipeline, job_id)
    assert job["model"] == "ocr/ppocrv4"
    summary = job["result"]["summary"]
    assert summary["kind"] == "ocr"
    found = {canon(t) for t in summary["text"]}
    assert sum(canon(line) in found for line in lines) >= 0.6 * len(lines), (lines, found)
    assert result_document(job)["schema"] == "sitelens.ocr.result/1"
    assert webhook_body(pipeline, job_id)["data"]["result"]["summary"]["kind"] == "ocr"


def test_the_demos_model_folder_reads_its_text_lines_as_a_node_would(tmp_path):
    """`make demo-models` makes its folder with these flags and shows these lines: no stack needed to check."""
    labels = tmp_path / "labels.txt"
    labels.write_text("0\n180\n")
    folder = tmp_path / "direction"
    sitelens("models", "init", "--kind", "classify", "--onnx", str(CLS_ONNX), "--labels", str(labels),
             "--name", "text-direction", "--version", "2.0", "--out", str(folder), *demo_models.INIT_FLAGS)  # fmt: skip
    photos = []
    for file, (text, upside_down, _) in demo_models.LINES.items():
        photos.append(tmp_path / file)
        photos[-1].write_bytes(demo_models.text_line(text, upside_down))
    docs = trial.run(folder, photos)
    tops = [doc["result"]["labels"][0] for doc in docs]
    assert [top["label"] for top in tops] == [expected for _, _, expected in demo_models.LINES.values()]
    assert all(top["score"] > 0.9 for top in tops), tops
