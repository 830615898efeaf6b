"""Fetching the real model (the pinned wheel, cached) and publishing a folder to Azurite."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient

from batch_tasks.models.fetch import fetch
from batch_tasks.models.manifest import load

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]
CACHE = REPO / ".local" / "cache"  # shared with `make setup`, so the wheel is downloaded once per checkout


def test_fetch_extracts_only_the_model_files_verifies_them_and_is_idempotent(tmp_path):
    dest = tmp_path / "ppocrv4"
    assert fetch(dest, CACHE) is True
    assert sorted(p.name for p in dest.iterdir()) == [
        "ch_PP-OCRv4_det_infer.onnx", "ch_PP-OCRv4_rec_infer.onnx", "ch_ppocr_mobile_v2.0_cls_infer.onnx",
        "manifest.json",
    ]  # fmt: skip
    assert load(dest).file("rec").bytes == 10_857_958
    assert fetch(dest, CACHE) is False
    # a damaged file is noticed and replaced
    (dest / "ch_PP-OCRv4_det_infer.onnx").write_bytes(b"broken")
    assert fetch(dest, CACHE) is True
    load(dest)


def test_publish_uploads_files_then_manifest(tmp_path, storage_connection):
    dest = tmp_path / "ppocrv4"
    fetch(dest, CACHE)
    done = subprocess.run(
        [sys.executable, "-m", "sitelens", "models", "publish", str(dest), "--connection-string", storage_connection],
        capture_output=True, text=True, check=False, cwd=REPO,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    container = BlobServiceClient.from_connection_string(storage_connection).get_container_client("models")
    names = sorted(b.name for b in container.list_blobs(name_starts_with="ocr/ppocrv4/"))
    assert names == sorted(f"ocr/ppocrv4/{p.name}" for p in dest.iterdir())
    manifest = json.loads(container.download_blob("ocr/ppocrv4/manifest.json").readall())
    assert manifest["files"]["det"]["sha256"] == load(dest).file("det").sha256
