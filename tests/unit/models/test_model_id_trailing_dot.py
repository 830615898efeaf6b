"""A model id's segments (name, version, and the file names of a model) never end in `.`.

Azure Blob storage drops a path segment's trailing dot (`ocr/1.0./manifest.json` is stored as
`ocr/1.0/manifest.json`), so a version ending in `.` would publish blobs its own id never lists and every photo
routed to it would end `unknown_model`; Azurite keeps the two apart, so only the rule catches it. Every place
that takes a model id uses the one rule of batch_tasks/artifacts.py: publish, routing, both settings, the node.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from batch_tasks.artifacts import is_model_id
from batch_tasks.errors import UnknownModel
from batch_tasks.models import ppocrv4
from batch_tasks.models.manifest import ManifestError, parse
from batch_tasks.node.settings import NodeSettings, NodeSettingsError
from shared.errors import InvalidInput
from shared.jobs import routing
from shared.pipeline_settings import PipelineSettings
from sitelens import models_command, models_route
from tests.unit.node.test_registry_not_served import registry
from tests.unit.ocr.test_publish import model_folder
from tests.unit.ocr.test_publish import parse as parse_cli

TRAILING_DOT = ["ocr/1.0.", "ocr./1", "ocr./1.0.", "a./b", "ocr/v."]


@pytest.mark.parametrize("model", ["ocr/ppocrv4", "pipe-defects/1.1.0", "a/b", "a_/b-", "n.v/1.0_rc", "a/" + "x" * 128])
def test_ids_whose_segments_end_in_a_letter_digit_underscore_or_dash_are_model_ids(model):
    assert is_model_id(model)


@pytest.mark.parametrize("model", [*TRAILING_DOT, "a/" + "x" * 129, "a/.b", "/b", "a/"])
def test_a_segment_ending_in_a_dot_or_outside_the_bounds_is_not_a_model_id(model):
    assert not is_model_id(model)


@pytest.mark.parametrize(("key", "value"), [("name", "ocr."), ("version", "1.0."), ("version", "ppocrv4..")])
def test_a_manifest_whose_name_or_version_ends_in_a_dot_is_refused(key, value):
    doc = ppocrv4.manifest()
    doc[key] = value
    with pytest.raises(ManifestError, match=f"'{key}'"):
        parse(doc)


def test_a_manifest_naming_a_file_that_ends_in_a_dot_is_refused():
    doc = ppocrv4.manifest()
    doc["files"]["det"]["file"] = "det.onnx."
    with pytest.raises(ManifestError, match="file entry 'det'"):
        parse(doc)


def test_publish_refuses_a_version_ending_in_a_dot_and_uploads_nothing(tmp_path: Path, capsys):
    folder = model_folder(tmp_path / "m", version="1.0.")
    args = parse_cli(["models", "publish", str(folder), "--connection-string", "AccountName=a"])
    assert models_command.run_publish(args) == 1  # refused before any storage call: the account does not exist
    said = capsys.readouterr()
    assert "refused, nothing uploaded" in said.err and "'version'" in said.err and said.out == ""


@pytest.mark.parametrize("model", TRAILING_DOT)
def test_routing_never_serves_nor_takes_a_route_to_an_id_ending_in_a_dot(model):
    stored = routing.parse_table(json.dumps({"routes": [{"model": model, "weight": 1}]}).encode())
    assert stored.for_site("north-yard") == []  # skipped (an earlier release wrote it): the default model
    with pytest.raises(InvalidInput):
        routing.with_route(routing.RoutingTable(), "north-yard", model, 10)
    with pytest.raises(argparse.ArgumentTypeError):
        models_route.model_id(model.replace("/", ":"))


def test_neither_the_app_nor_the_node_takes_such_an_id_as_a_setting(tmp_path: Path):
    problems: list[str] = []
    PipelineSettings.from_env({"SITELENS_DEFAULT_MODEL": "ocr/1.0."}, problems)
    assert [p for p in problems if p.startswith("SITELENS_DEFAULT_MODEL")]
    with pytest.raises(NodeSettingsError, match="SITELENS_WARM_MODELS"):
        NodeSettings.from_env({"AZ_BATCH_NODE_SHARED_DIR": str(tmp_path), "SITELENS_WARM_MODELS": "ocr/1.0."})


def test_the_node_answers_unknown_model_for_such_an_id(tmp_path: Path):
    with pytest.raises(UnknownModel, match="not a model id"):
        registry(tmp_path / "models").get("ocr/1.0.")
