"""Publishing a model folder to the `models` container as `{name}/{version}/{file}`."""

from __future__ import annotations

import contextlib
from pathlib import Path

from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobServiceClient, ContentSettings

from batch_tasks.models.manifest import load

CONTAINER = "models"


def blob_names(name: str, version: str, files: list[str]) -> list[str]:
    return [f"{name}/{version}/{f}" for f in files]


def publish(folder: Path, service: BlobServiceClient) -> list[str]:
    """Upload the manifest last, so a reader that finds it finds every file it names."""
    manifest = load(folder)
    container = service.get_container_client(CONTAINER)
    with contextlib.suppress(ResourceExistsError):
        container.create_container()
    files = [f.file for f in manifest.files]
    names = blob_names(manifest.name, manifest.version, [*files, "manifest.json"])
    for local, name in zip([*files, "manifest.json"], names, strict=True):
        content_type = "application/json" if local.endswith(".json") else "application/octet-stream"
        with (folder / local).open("rb") as data:
            container.upload_blob(
                name, data, overwrite=True, content_settings=ContentSettings(content_type=content_type)
            )
    return names
