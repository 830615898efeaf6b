"""`manifest.json`: what a model folder declares, validated when read.

A model folder holds `.onnx` files and a manifest naming its task kind (`ocr`, `classify`, `segment`,
`detect`), its files with their SHA-256, input sizes, normalisation, thresholds, licence and attribution.
The pipeline is model-agnostic: it reads this, never a hard-coded model name.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TASK_KINDS = frozenset({"ocr", "classify", "segment", "detect"})
REQUIRED = ("name", "version", "task", "files", "license", "attribution")


class ManifestError(ValueError):
    """The manifest is missing, malformed, or does not match the files beside it."""


@dataclass(frozen=True)
class ModelFile:
    role: str
    file: str
    sha256: str
    bytes: int


@dataclass(frozen=True)
class Manifest:
    name: str
    version: str
    task: str
    files: tuple[ModelFile, ...]
    raw: dict[str, Any]

    def file(self, role: str) -> ModelFile:
        for f in self.files:
            if f.role == role:
                return f
        raise ManifestError(f"model {self.name}/{self.version} has no '{role}' file")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def parse(doc: dict[str, Any]) -> Manifest:
    missing = [k for k in REQUIRED if k not in doc]
    if missing:
        raise ManifestError(f"manifest lacks {', '.join(missing)}")
    if doc["task"] not in TASK_KINDS:
        raise ManifestError(f"task '{doc['task']}' is not one of {', '.join(sorted(TASK_KINDS))}")
    files = doc["files"]
    if not isinstance(files, dict) or not files:
        raise ManifestError("'files' must map roles to files")
    parsed = []
    for role, spec in files.items():
        try:
            parsed.append(ModelFile(role, str(spec["file"]), str(spec["sha256"]), int(spec["bytes"])))
        except (KeyError, TypeError, ValueError) as exc:
            raise ManifestError(f"file entry '{role}' needs file, sha256 and bytes") from exc
    return Manifest(str(doc["name"]), str(doc["version"]), str(doc["task"]), tuple(parsed), doc)


def load(folder: Path, *, verify: bool = True) -> Manifest:
    """Read `folder/manifest.json`; with `verify`, check every file's size and SHA-256."""
    path = folder / "manifest.json"
    try:
        manifest = parse(json.loads(path.read_text()))
    except FileNotFoundError as exc:
        raise ManifestError(f"{path} not found") from exc
    except ValueError as exc:
        raise ManifestError(f"{path}: {exc}") from exc
    if verify:
        for f in manifest.files:
            target = folder / f.file
            if not target.is_file():
                raise ManifestError(f"{target} is missing")
            if target.stat().st_size != f.bytes or sha256_of(target) != f.sha256:
                raise ManifestError(f"{target} does not match its SHA-256 in the manifest")
    return manifest
