"""A manifest whose JSON is the wrong type anywhere is refused as `ManifestError` naming what is wrong, never a
TypeError or OverflowError: `sitelens models` names the key, and a node records the manifest as unreadable."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from batch_tasks.models import ppocrv4
from batch_tasks.models.manifest import ManifestError, load, parse


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (30, "a manifest is a JSON object, not int"),
        ([], "a manifest is a JSON object, not list"),
        ("name version task files license attribution", "a manifest is a JSON object, not str"),
        (None, "a manifest is a JSON object, not NoneType"),
    ],
)
def test_a_manifest_that_is_not_an_object_is_refused(doc: object, message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        parse(doc)


@pytest.mark.parametrize("task", [[], {"kind": "ocr"}, ["ocr"]])
def test_a_task_that_is_not_a_string_is_refused_naming_task(task: Any) -> None:
    doc = ppocrv4.manifest() | {"task": task}
    with pytest.raises(ManifestError, match="'task' must be a string"):
        parse(doc)


def test_a_file_size_of_infinity_is_refused_naming_bytes() -> None:
    doc = json.loads(json.dumps(ppocrv4.manifest()).replace('"bytes": 4745517', '"bytes": Infinity'))
    assert doc["files"]["det"]["bytes"] == float("inf")
    with pytest.raises(ManifestError, match="file entry 'det' needs 'bytes' to be a whole number"):
        parse(doc)


@pytest.mark.parametrize(
    "text",
    [
        "30",
        '{"name": "n", "version": "v", "task": [], "files": {}, "license": "x", "attribution": "y"}',
        json.dumps(ppocrv4.manifest()).replace('"bytes": 4745517', '"bytes": Infinity'),
        "[" * 5000 + "]" * 5000,  # nested past the JSON parser's depth
    ],
)
def test_load_refuses_each_as_manifest_error(tmp_path: Path, text: str) -> None:
    (tmp_path / "manifest.json").write_text(text)
    with pytest.raises(ManifestError, match=r"manifest\.json"):
        load(tmp_path, verify=False)
