"""A node downloads a model version's listed files only: what the manifest does not list is never checked."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import onnx
import pytest
from azure.storage.blob import BlobServiceClient
from onnx import external_data_helper

from batch_tasks.errors import ModelUnavailable
from batch_tasks.models import serving
from batch_tasks.models.publish import plan
from batch_tasks.node.registry import Registry
from batch_tasks.node.settings import StorageSettings
from batch_tasks.node.storage import AzureResultStore
from sitelens.models_command import upload
from tests.support.onnx_models import classify_graph, classify_manifest, write_folder


def test_a_blob_the_manifest_does_not_list_is_not_downloaded_nor_loaded(tmp_path: Path, storage: str) -> None:
    """Every blob under the version was downloaded: weights.bin put beside a published graph that names it (but
    not in the manifest) was loaded by the node unchecked by any SHA-256."""
    model = classify_graph(3)
    external_data_helper.set_external_data(model.graph.initializer[0], "weights.bin")
    source = tmp_path / "source"
    source.mkdir()
    onnx.save(model, str(source / "model.onnx"))  # writes weights.bin beside it
    folder = write_folder(source, onnx.load(str(source / "model.onnx"), load_external_data=False),
                          classify_manifest(name="unlisted"))  # fmt: skip
    upload(plan(folder), storage)  # model.onnx and manifest.json: what publish uploads
    models = BlobServiceClient.from_connection_string(storage).get_container_client("models")
    models.upload_blob("unlisted/1.0.0/weights.bin", (source / "weights.bin").read_bytes(), overwrite=True)

    store = AzureResultStore.from_settings(StorageSettings(connection_string=storage))
    registry = Registry(tmp_path / "node", lambda f: serving.load_model(f, ["CPUExecutionProvider"]), capacity=2,
                        max_batch=4, max_wait=0.001, max_queue=8, download=store.download_model)  # fmt: skip
    with pytest.raises(ModelUnavailable, match="did not load"):
        registry.get("unlisted/1.0.0")
    assert sorted(p.name for p in (tmp_path / "node" / "unlisted" / "1.0.0").iterdir()) == [
        "manifest.json", "model.onnx"
    ]  # fmt: skip


FULL_DISK = """
import resource, signal, sys
from pathlib import Path
from batch_tasks.errors import ModelUnavailable
from batch_tasks.models import serving
from batch_tasks.node.registry import Registry
from batch_tasks.node.settings import StorageSettings
from batch_tasks.node.storage import AzureResultStore

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG, as on a full disk
resource.setrlimit(resource.RLIMIT_FSIZE, (512, 512))
store = AzureResultStore.from_settings(StorageSettings(connection_string=sys.argv[1]))
registry = Registry(Path(sys.argv[2]), lambda f: serving.load_model(f, ["CPUExecutionProvider"]), capacity=2,
                    max_batch=4, max_wait=0.001, max_queue=8, download=store.download_model)
try:
    registry.get("roomy/1.0.0")
except ModelUnavailable as exc:
    print("refused:", exc.message)
"""


def test_a_download_the_disk_cannot_hold_fails_that_model_and_leaves_no_half_file(tmp_path: Path, storage: str) -> None:
    """A node whose disk is full (here a file-size limit: EFBIG) fails that model, `model_unavailable`, rather
    than raising an OSError out of the server, and leaves no `.partial` file behind."""
    folder = write_folder(tmp_path / "source", classify_graph(3), classify_manifest(name="roomy"))
    upload(plan(folder), storage)
    node = tmp_path / "node"
    done = subprocess.run([sys.executable, "-c", FULL_DISK, storage, str(node)], capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "refused: model roomy/1.0.0 could not be written" in done.stdout
    assert not list(node.rglob("*.partial"))
