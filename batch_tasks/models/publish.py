"""Where a model folder goes in storage: the `models` container, as `{name}/{version}/{file}`.

This module only plans the upload (pure, and free of any storage SDK, so a Batch node never needs one);
`sitelens models publish` carries it out. The manifest is uploaded last, so a reader that finds a manifest
finds every file it names.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from batch_tasks.models.manifest import load

CONTAINER = "models"
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Upload:
    path: Path  # the local file
    blob: str  # its name in the `models` container
    content_type: str


def prefix(name: str, version: str) -> str:
    """The folder of one model version in the container."""
    return f"{name}/{version}/"


def blob_names(name: str, version: str, files: list[str]) -> list[str]:
    return [prefix(name, version) + f for f in files]


def plan(folder: Path) -> list[Upload]:
    """The uploads that publish `folder`: its verified model files, then its manifest.

    Raises:
        ManifestError: the folder's manifest is invalid or its files do not verify.
    """
    manifest = load(folder)
    files = [f.file for f in manifest.files]
    return [
        Upload(folder / local, blob, "application/json" if local == MANIFEST else "application/octet-stream")
        for local, blob in zip(
            [*files, MANIFEST], blob_names(manifest.name, manifest.version, [*files, MANIFEST]), strict=True
        )
    ]
