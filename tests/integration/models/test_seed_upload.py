"""The local stack seeds the model registry at every start: a blob that already holds its file's bytes is left
as it is (Azurite keeps a replaced blob's old bytes on disk for minutes, so the state dir grew by the whole
model at each start), and one whose bytes differ, even at the same size, is put again."""

from __future__ import annotations

from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient

from batch_tasks.models.publish import CONTAINER, plan
from sitelens.models_command import upload
from tests.support.onnx_models import classify_graph, classify_manifest, write_folder

pytestmark = pytest.mark.integration


def etags(connection: str, blobs: list[str]) -> dict[str, str]:
    container = BlobServiceClient.from_connection_string(connection).get_container_client(CONTAINER)
    return {blob: container.get_blob_client(blob).get_blob_properties().etag for blob in blobs}


def test_an_unchanged_model_is_not_uploaded_again_and_a_changed_file_is(
    tmp_path: Path, storage_connection: str, unique: str
) -> None:
    uploads = plan(write_folder(tmp_path / "model", classify_graph(3), classify_manifest(name=f"seed-{unique}")))
    blobs = [u.blob for u in uploads]
    upload(uploads, storage_connection)
    first = etags(storage_connection, blobs)
    upload(uploads, storage_connection)  # the next start of the same stack
    assert etags(storage_connection, blobs) == first

    graph = uploads[0]
    data = bytearray(graph.path.read_bytes())
    data[-1] ^= 0xFF  # other bytes, the same size
    graph.path.write_bytes(bytes(data))
    upload([graph], storage_connection)
    container = BlobServiceClient.from_connection_string(storage_connection).get_container_client(CONTAINER)
    assert container.download_blob(graph.blob).readall() == bytes(data)
    assert etags(storage_connection, [graph.blob]) != {graph.blob: first[graph.blob]}
