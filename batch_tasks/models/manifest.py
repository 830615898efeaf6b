"""`manifest.json`: what a model folder declares, validated when read.

A model folder holds `.onnx` files and a manifest naming its task kind (`ocr`, `classify`, `segment`,
`detect`), its files with their SHA-256, input sizes, normalisation, thresholds, licence and attribution.
The pipeline is model-agnostic: it reads this, never a hard-coded model name. The keys of classify and detect
models (input, output, labels, limits) are checked by `vision_spec` as part of `parse`.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batch_tasks.artifacts import MODEL_SEGMENT

TASK_KINDS = frozenset({"ocr", "classify", "segment", "detect"})
REQUIRED = ("name", "version", "task", "files", "license", "attribution")
# Names become blob paths (`{name}/{version}/{file}`) and local paths: one plain segment each, by the rule of a
# model id that routing and the node share.
SEGMENT = MODEL_SEGMENT
SHA256 = re.compile(r"[0-9a-f]{64}")


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


def parse(doc: object) -> Manifest:
    """Check a manifest's shape (not its files); `doc` is whatever its JSON holds, an object or not.

    Raises:
        ManifestError: a required key is missing or malformed; the message names it.
    """
    if not isinstance(doc, dict):  # JSON's other values: `in` and `[]` would mean something else, or raise
        raise ManifestError(f"a manifest is a JSON object, not {type(doc).__name__}")
    missing = [k for k in REQUIRED if k not in doc]
    if missing:
        raise ManifestError(f"manifest lacks {', '.join(missing)}")
    for key in ("name", "version"):
        if not isinstance(doc[key], str) or not SEGMENT.fullmatch(doc[key]):
            raise ManifestError(
                f"'{key}' must be one path segment of letters, digits, '.', '_' or '-', starting with "
                "a letter or digit and not ending in '.' (Azure Blob storage drops a trailing dot)"
            )
    kinds = ", ".join(sorted(TASK_KINDS))
    if not isinstance(doc["task"], str):  # a list or an object: unhashable, so no set lookup could refuse it
        raise ManifestError(f"'task' must be a string, one of {kinds}")
    if doc["task"] not in TASK_KINDS:
        raise ManifestError(f"task '{doc['task']}' is not one of {kinds}")
    files = doc["files"]
    if not isinstance(files, dict) or not files:
        raise ManifestError("'files' must map roles to files")
    parsed = tuple(_file_entry(role, spec) for role, spec in files.items())
    # Imported here: the kinds' key checks raise this module's ManifestError.
    from batch_tasks.models import vision_spec  # noqa: PLC0415

    if doc["task"] in vision_spec.VISION_TASKS:
        vision_spec.parse(doc)
    else:
        vision_spec.limits(doc)
    return Manifest(str(doc["name"]), str(doc["version"]), str(doc["task"]), parsed, doc)


def _file_entry(role: str, spec: Any) -> ModelFile:
    """The `files` entry of `role`, checked: a plain file name beside the manifest, its SHA-256 and size."""
    try:
        entry = ModelFile(role, str(spec["file"]), str(spec["sha256"]), int(spec["bytes"]))
    except OverflowError as exc:  # JSON's Infinity: a float no int holds
        raise ManifestError(f"file entry '{role}' needs 'bytes' to be a whole number, not {spec['bytes']}") from exc
    except (KeyError, TypeError, ValueError) as exc:
        raise ManifestError(f"file entry '{role}' needs file, sha256 and bytes") from exc
    if not SEGMENT.fullmatch(entry.file) or entry.file == "manifest.json":
        raise ManifestError(f"file entry '{role}' must name a plain file beside the manifest, not ending in '.'")
    if not SHA256.fullmatch(entry.sha256) or entry.bytes < 0:
        raise ManifestError(f"file entry '{role}' needs a lower-case hex SHA-256 and a size")
    return entry


def load(folder: Path, *, verify: bool = True) -> Manifest:
    """Read `folder/manifest.json`; with `verify`, check every file's size and SHA-256.

    Raises:
        ManifestError: the manifest is missing or malformed, or a file is missing or differs.
    """
    path = folder / "manifest.json"
    try:
        manifest = parse(json.loads(path.read_text()))
    except FileNotFoundError as exc:
        raise ManifestError(f"{path} not found") from exc
    except (ValueError, RecursionError) as exc:  # not JSON (nested past the parser's depth, too), or a bad key
        raise ManifestError(f"{path}: {exc}") from exc
    if verify:
        for f in manifest.files:
            target = folder / f.file
            if not target.is_file():
                raise ManifestError(f"{target} is missing")
            if target.stat().st_size != f.bytes or sha256_of(target) != f.sha256:
                raise ManifestError(f"{target} does not match its SHA-256 in the manifest")
    return manifest
