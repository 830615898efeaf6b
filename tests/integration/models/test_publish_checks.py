"""`sitelens models publish` refuses a folder a node could not serve, before anything reaches storage."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from azure.storage.blob import BlobServiceClient
from onnx import external_data_helper

from batch_tasks.models.manifest import sha256_of
from tests.support.onnx_models import (
    classify_graph,
    classify_manifest,
    write_classify_model,
    write_detect_model,
    write_folder,
)

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
    assert done.returncode == 1 and done.stdout == ""  # a refusal is said on stderr
    assert "refused, nothing uploaded" in done.stderr and "SHA-256" in done.stderr
    assert uploaded(storage_connection, f"tampered-{unique}") == []


def test_a_graph_whose_output_does_not_match_its_manifest_is_refused(tmp_path, storage_connection, unique):
    folder = write_classify_model(tmp_path / "m", name=f"mismatch-{unique}", classes=4)  # 3 labels, 4 scores
    done = publish(folder, storage_connection)
    assert done.returncode == 1
    assert "model_output_invalid" in done.stderr
    assert uploaded(storage_connection, f"mismatch-{unique}") == []


def test_a_manifest_naming_an_output_the_graph_lacks_is_refused(tmp_path, storage_connection, unique):
    folder = write_detect_model(tmp_path / "m", name=f"noout-{unique}")
    doc = json.loads((folder / "manifest.json").read_text())
    doc["output"]["name"] = "boxes"  # the graph's output is output0
    (folder / "manifest.json").write_text(json.dumps(doc))
    done = publish(folder, storage_connection)
    assert done.returncode == 1 and "refused, nothing uploaded" in done.stderr
    assert uploaded(storage_connection, f"noout-{unique}") == []


def test_a_good_folder_is_published(tmp_path, storage_connection, unique):
    folder = write_detect_model(tmp_path / "m", name=f"good-{unique}")
    done = publish(folder, storage_connection)
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(uploaded(storage_connection, f"good-{unique}")) == [
        f"good-{unique}/1.0.0/manifest.json", f"good-{unique}/1.0.0/model.onnx"
    ]  # fmt: skip
    assert sorted(done.stdout.split()) == [f"models/good-{unique}/1.0.0/manifest.json",
                                           f"models/good-{unique}/1.0.0/model.onnx"]  # fmt: skip


def test_a_version_published_with_other_files_is_refused_and_an_identical_one_published_again(
    tmp_path, storage_connection, unique
):
    """One id, one set of files: a node keeps a version it downloaded and results are reused per model id, so
    publishing other weights under a published version left nodes serving different models under one id."""
    name = f"taken-{unique}"
    first = write_classify_model(tmp_path / "first", name=name)
    assert publish(first, storage_connection).returncode == 0
    container = BlobServiceClient.from_connection_string(storage_connection).get_container_client("models")

    def stored() -> dict[str, bytes]:
        return {n: container.download_blob(n).readall() for n in sorted(uploaded(storage_connection, name))}

    before = stored()
    again = publish(first, storage_connection)  # the same folder again (as the local stack does on each start)
    assert again.returncode == 0, again.stdout + again.stderr
    assert stored() == before
    retrained = write_folder(tmp_path / "retrained", classify_graph(3, weights=np.eye(3)[::-1]),
                             classify_manifest(name=name))  # fmt: skip
    done = publish(retrained, storage_connection)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "refused, nothing uploaded" in done.stderr and "version_published" in done.stderr
    assert f"{name}/1.0.0 is already published" in done.stderr and done.stdout == ""
    assert stored() == before
    newer = write_folder(tmp_path / "newer", classify_graph(3, weights=np.eye(3)[::-1]),
                         classify_manifest(name=name, version="1.1.0"))  # fmt: skip
    assert publish(newer, storage_connection).returncode == 0


def test_a_model_that_reads_one_photo_but_not_two_together_is_refused_unless_its_max_batch_is_1(
    tmp_path, storage_connection, unique
):
    """The check read one blank photo: a graph that fixes its batch at 1 inside (`x.view(1, -1)`) was published
    with max_batch 4, and on the node every batch of photos that arrived together failed `inference_failed`."""
    graph = classify_graph(3, one_at_a_time=True)
    batched = write_folder(tmp_path / "batched", graph, classify_manifest(name=f"single-{unique}"))
    done = publish(batched, storage_connection)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "refused, nothing uploaded" in done.stderr and "not two together" in done.stderr
    assert "limits.max_batch is 4" in done.stderr and "Reshape" in done.stderr
    assert uploaded(storage_connection, f"single-{unique}") == []
    alone = write_folder(tmp_path / "alone", graph, classify_manifest(name=f"single-{unique}", limits={"max_batch": 1}))
    done = publish(alone, storage_connection)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("listed", [False, True])
def test_a_graph_whose_weights_are_in_a_file_the_manifest_does_not_list_is_refused(
    tmp_path, storage_connection, unique, listed
):
    """The check loaded the local folder, where the weights file was, but only the manifest's files are uploaded:
    the node then failed `model_unavailable` on every photo."""
    model = classify_graph(3)
    external_data_helper.set_external_data(model.graph.initializer[0], "weights.bin")
    folder = tmp_path / "m"
    folder.mkdir()
    onnx.save(model, str(folder / "model.onnx"))  # writes weights.bin beside it
    doc = classify_manifest(name=f"external-{unique}")
    folder = write_folder(folder, onnx.load(str(folder / "model.onnx"), load_external_data=False), doc)
    if listed:
        entry = {"file": "weights.bin", "sha256": sha256_of(folder / "weights.bin"),
                 "bytes": (folder / "weights.bin").stat().st_size}  # fmt: skip
        doc = json.loads((folder / "manifest.json").read_text())
        doc["files"]["weights"] = entry
        (folder / "manifest.json").write_text(json.dumps(doc))
    done = publish(folder, storage_connection)
    if listed:
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"external-{unique}/1.0.0/weights.bin" in uploaded(storage_connection, f"external-{unique}")
        return
    assert done.returncode == 1, done.stdout + done.stderr
    assert "refused, nothing uploaded" in done.stderr and "weights.bin" in done.stderr
    assert uploaded(storage_connection, f"external-{unique}") == []
