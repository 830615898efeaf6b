from __future__ import annotations

import json

import pytest

from batch_tasks.models import ppocrv4
from batch_tasks.models.manifest import ManifestError, load, parse, sha256_of
from batch_tasks.models.publish import blob_names


def test_the_shipped_manifest_parses_and_names_all_three_roles():
    manifest = parse(ppocrv4.manifest())
    assert (manifest.name, manifest.version, manifest.task) == ("ocr", "ppocrv4", "ocr")
    assert {f.role for f in manifest.files} == {"det", "rec", "cls"}
    assert manifest.file("det").bytes == 4_745_517
    assert manifest.raw["det"]["long_side"] == 1280


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("license"), "lacks license"),
        (lambda d: d.update(task="caption"), "not one of"),
        (lambda d: d.update(files={}), "map roles"),
        (lambda d: d["files"]["det"].pop("sha256"), "needs file, sha256 and bytes"),
    ],
)
def test_invalid_manifests_are_refused(change, message):
    doc = ppocrv4.manifest()
    change(doc)
    with pytest.raises(ManifestError, match=message):
        parse(doc)


def test_load_verifies_sizes_and_hashes(tmp_path):
    data = b"model bytes"
    (tmp_path / "m.onnx").write_bytes(data)
    entry = {"file": "m.onnx", "sha256": sha256_of(tmp_path / "m.onnx"), "bytes": len(data)}
    doc = {
        "name": "n",
        "version": "v",
        "task": "classify",
        "license": "MIT",
        "attribution": "x",
        "files": {"model": entry},
        "labels": ["a", "b"],
        "input": {"name": "x", "size": [8, 8]},
        "output": {"name": "y", "type": "logits"},
    }
    (tmp_path / "manifest.json").write_text(json.dumps(doc))
    assert load(tmp_path).file("model").file == "m.onnx"
    (tmp_path / "m.onnx").write_bytes(b"model bytez")  # same size, other content
    with pytest.raises(ManifestError, match="SHA-256"):
        load(tmp_path)
    assert load(tmp_path, verify=False).name == "n"
    with pytest.raises(ManifestError, match="not found"):
        load(tmp_path / "nowhere")


def test_published_layout():
    names = blob_names("ocr", "ppocrv4", ["a.onnx", "manifest.json"])
    assert names == ["ocr/ppocrv4/a.onnx", "ocr/ppocrv4/manifest.json"]
