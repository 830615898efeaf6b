"""The manifest: what the OCR engine reads from it, and the errors a broken one gives."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from batch_tasks.models import ppocrv4
from batch_tasks.models.manifest import ManifestError, parse
from batch_tasks.ocr.settings import SettingsError, from_manifest


def shipped() -> dict[str, Any]:
    return copy.deepcopy(ppocrv4.manifest())


def test_the_shipped_manifest_gives_the_documented_settings():
    s = from_manifest(parse(shipped()))
    assert s.det.long_side == 1280 and (960, 1280) in s.det.buckets and len(s.det.buckets) == 5
    assert s.det.decode_long_side == 1920
    assert (s.det.db.thresh, s.det.db.box_thresh, s.det.db.unclip_ratio) == (0.3, 0.6, 1.5)
    assert s.rec.width_buckets == (160, 320, 480, 640, 960, 1280) and s.rec.height == 48
    assert s.rec.dictionary_key == "character" and s.rec.space_threshold == 0.02
    assert s.cls is not None and s.cls.flip_label == 1 and s.cls.threshold == 0.9


def test_the_long_side_can_be_overridden():
    s = from_manifest(parse(shipped()), long_side=1920)
    assert s.det.long_side == 1920 and all(max(b) == 1920 for b in s.det.buckets)
    with pytest.raises(SettingsError, match="multiple of 32"):
        from_manifest(parse(shipped()), long_side=1000)


def test_a_model_without_a_classifier_file_has_no_cls_settings():
    doc = shipped()
    del doc["files"]["cls"], doc["cls"]
    assert from_manifest(parse(doc)).cls is None


def test_without_a_space_threshold_no_spaces_are_restored():
    doc = shipped()
    del doc["rec"]["space_threshold"]
    assert from_manifest(parse(doc)).rec.space_threshold is None


def change(doc: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    for key in parents:
        doc = doc[key]
    if value is KeyError:
        del doc[leaf]
    else:
        doc[leaf] = value


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("task", "segment", "'segment' model, not 'ocr'"),
        ("det", KeyError, "det must be an object"),
        ("det.long_side", 1000, "det.long_side must be a multiple of 32"),
        ("det.buckets", [[960, 1280], [500, 1280]], "det.buckets must be multiples of 32"),
        ("det.buckets", [[960, 1280], [960, 960]], "long side is det.long_side"),
        ("det.buckets", [], "det.buckets must be a non-empty list"),
        ("det.thresh", 1.5, r"det.thresh must be a number in 0.0…1.0"),
        ("det.box_thresh", "high", "det.box_thresh must be a number"),
        ("det.unclip_ratio", 0, "det.unclip_ratio must be positive"),
        ("det.std", [0.2, 0.0, 0.2], "det.std must be three positive numbers"),
        ("det.mean", [0.5, 0.5], "det.mean must be three numbers"),
        ("det.batch_sizes", [4, 2], "det.batch_sizes must be strictly ascending"),
        ("det.output", KeyError, "det.output is missing"),
        ("rec.width_buckets", [160, 300], "multiples of 8"),
        ("rec.width_buckets", [320, 160], "strictly ascending"),
        ("rec.dictionary.source", "file", "rec.dictionary.source must be 'onnx-metadata'"),
        ("rec.min_confidence", -0.1, "rec.min_confidence"),
        ("rec.space_threshold", 2, r"rec.space_threshold must be a number in 0.0…1.0"),
        ("cls.labels", ["0", "90"], "cls.labels must be a list containing '180'"),
    ],
)
def test_broken_settings_name_the_key(path, value, message):
    doc = shipped()
    change(doc, path, value)
    with pytest.raises(SettingsError, match=message):
        from_manifest(parse(doc))


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("files.det.file", "../det.onnx", "plain file beside the manifest"),
        ("files.det.file", "manifest.json", "plain file beside the manifest"),
        ("files.det.sha256", "D2A7", "lower-case hex SHA-256"),
        ("name", "ocr/other", "'name' must be one path segment"),
        ("version", "", "'version' must be one path segment"),
        ("attribution", KeyError, "lacks attribution"),
    ],
)
def test_manifests_that_could_escape_their_folder_or_lack_credit_are_refused(path, value, message):
    doc = shipped()
    change(doc, path, value)
    with pytest.raises(ManifestError, match=message):
        parse(doc)
