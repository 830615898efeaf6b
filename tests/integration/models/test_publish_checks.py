"""`sitelens models publish` refuses a folder a node could not serve, before anything reaches storage."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient

from tests.support.onnx_models import write_classify_model, write_detect_model

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]


def publish(folder: Path, connection: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sitelens", "models", "publish", str(folder),
                           "--connection-string", connection],
                          capture_output=True, text=True, check=False, cwd=REPO, timeout=120)  # fmt: skip


def uploaded(connection: str, name: str) -> list[str]:
    container = BlobServiceClient.from_connection_string(connection).get_container_client("models")
    if not container.exists():
        return []
    return [b.name for b in container.list_blobs(name_starts_with=f"{name}/")]


def test_a_model_file_that_does_not_match_its_checksum_is_refused(tmp_path, storage_connection, unique):
    folder = write_classify_model(tmp_path / "m", name=f"tampered-{unique}")
    (folder / "model.onnx").write_bytes((folder / "model.onnx").read_bytes() + b"\0")
    done = publish(folder, storage_connection)
    assert done.returncode == 1
    assert "refused, nothing uploaded" in done.stdout and "SHA-256" in done.stdout
    assert uploaded(storage_connection, f"tampered-{unique}") == []


def test_a_graph_whose_output_does_not_match_its_manifest_is_refused(tmp_path, storage_connection, unique):
    folder = write_classify_model(tmp_path / "m", name=f"mismatch-{unique}", classes=4)  # 3 labels, 4 scores
    done = publish(folder, storage_connection)
    assert done.returncode == 1
    assert "model_output_invalid" in done.stdout
    assert uploaded(storage_connection, f"mismatch-{unique}") == []


def test_a_manifest_naming_an_output_the_graph_lacks_is_refused(tmp_path, storage_connection, unique):
    folder = write_detect_model(tmp_path / "m", name=f"noout-{unique}")
    doc = json.loads((folder / "manifest.json").read_text())
    doc["output"]["name"] = "boxes"  # the graph's output is output0
    (folder / "manifest.json").write_text(json.dumps(doc))
    done = publish(folder, storage_connection)
    assert done.returncode == 1 and "refused, nothing uploaded" in done.stdout
    assert uploaded(storage_connection, f"noout-{unique}") == []


def test_a_good_folder_is_published(tmp_path, storage_connection, unique):
    folder = write_detect_model(tmp_path / "m", name=f"good-{unique}")
    done = publish(folder, storage_connection)
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(uploaded(storage_connection, f"good-{unique}")) == [
        f"good-{unique}/1.0.0/manifest.json", f"good-{unique}/1.0.0/model.onnx"
    ]  # fmt: skip
