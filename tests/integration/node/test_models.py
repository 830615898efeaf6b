"""Model versions on demand: downloaded from the `models` container, loaded, and evicted least recently used."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from batch_tasks.models.publish import plan
from sitelens.models_command import upload
from tests.integration.node.conftest import Node, node_env
from tests.integration.ocr import photos
from tests.support.onnx_models import write_classify_model
from tests.support.waiting import wait_for


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory, models_dir: Path, storage: str) -> str:
    """A second version of the model, published the way `sitelens models publish` does (same weights)."""
    folder = tmp_path_factory.mktemp("registry") / "v2"
    shutil.copytree(models_dir / "ocr" / "ppocrv4", folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["version"] = "v2"
    (folder / "manifest.json").write_text(json.dumps(manifest))
    upload(plan(folder), storage)
    return "ocr/v2"


@pytest.fixture(scope="module")
def small_node(tmp_path_factory: pytest.TempPathFactory, models_dir: Path, storage: str) -> Iterator[Node]:
    root = tmp_path_factory.mktemp("lru")
    local = root / "models"
    shutil.copytree(models_dir / "ocr" / "ppocrv4", local / "ocr" / "ppocrv4")
    shared = root / "shared"
    env = node_env(
        shared, SITELENS_STORAGE_CONNECTION=storage, SITELENS_MODELS_DIR=str(local), SITELENS_MODEL_CACHE="1"
    )
    with Node(shared, env).running() as n:
        yield n


def test_a_version_not_on_the_node_is_downloaded_verified_and_served(
    small_node: Node, published: str, tmp_path: Path
) -> None:
    image = photos.paper(720, 1280)
    photos.write(image, "METER 4512", (150, 320), 2.0, 4)
    path = tmp_path / "p.jpg"
    path.write_bytes(photos.jpeg(image))

    reply = small_node.call({"op": "read", "model": published, "path": str(path)})
    assert reply["ok"] is True, reply
    assert [photos.canon(line["text"]) for line in reply["result"]["lines"]] == ["METER4512"]
    downloaded = Path(small_node.env["SITELENS_MODELS_DIR"]) / "ocr" / "v2"
    assert json.loads((downloaded / "manifest.json").read_text())["version"] == "v2"

    health = small_node.health()
    assert [m["id"] for m in health["models"]] == [published]  # capacity 1: the warm default went
    assert health["evictions"] == 1

    back = small_node.call({"op": "read", "model": "ocr/ppocrv4", "path": str(path)})
    assert back["ok"] is True
    assert [m["id"] for m in small_node.health()["models"]] == ["ocr/ppocrv4"]


def test_a_version_in_neither_place_is_unknown(small_node: Node, tmp_path: Path) -> None:
    reply = small_node.call({"op": "read", "model": "ocr/never-published", "path": str(tmp_path / "x.jpg")})
    assert reply["error"]["code"] == "unknown_model"
    assert "not in the registry" in reply["error"]["message"]


@pytest.fixture
def ab_node(tmp_path: Path, storage: str) -> Iterator[Node]:
    """An A/B pair of classify versions on a node that keeps one model loaded, with one decode worker."""
    local = tmp_path / "models"
    write_classify_model(local / "colours" / "1.0.0")
    write_classify_model(local / "colours" / "2.0.0", version="2.0.0")
    shared = tmp_path / "shared"
    env = node_env(shared, SITELENS_STORAGE_CONNECTION=storage, SITELENS_MODELS_DIR=str(local),
                   SITELENS_MODEL_CACHE="1", SITELENS_WARM_MODELS="colours/1.0.0")  # fmt: skip
    with Node(shared, env).running() as n:
        yield n


def test_a_photo_whose_model_is_evicted_while_it_decodes_is_still_read(ab_node: Node, tmp_path: Path) -> None:
    """Request 1 has its model (A) and decodes its photo; request 2 loads B, which evicts A. A's photo was then
    refused as `shutting_down` (a Batch retry spent) though the server was not shutting down."""
    red = photos.jpeg(np.full((300, 400, 3), (0, 0, 255), np.uint8))
    held_open = tmp_path / "arriving.jpg"  # request 1's photo: read by its decode worker only as it is written
    os.mkfifo(held_open)
    other = tmp_path / "other.jpg"
    other.write_bytes(red)

    def writer() -> int | None:  # opens once request 1's decode worker opened the photo to read it
        with contextlib.suppress(OSError):
            return os.open(held_open, os.O_WRONLY | os.O_NONBLOCK)
        return None

    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(ab_node.call, {"op": "read", "model": "colours/1.0.0", "path": str(held_open)})
        fd = wait_for(writer, 60, "request 1's photo to be decoding")
        try:
            second = pool.submit(ab_node.call, {"op": "read", "model": "colours/2.0.0", "path": str(other)})
            wait_for(lambda: ab_node.health()["evictions"] == 1, 60, "request 2's model to evict request 1's")
            os.set_blocking(fd, True)
            os.write(fd, red)
        finally:
            os.close(fd)
        replies = first.result(60), second.result(60)
    for reply in replies:
        assert reply["ok"] is True, reply
        assert reply["result"]["labels"][0]["label"] == "red"
        assert reply["provider"] == "CPUExecutionProvider"  # the model that read it, though no longer loaded
    assert [m["id"] for m in ab_node.health()["models"]] == ["colours/2.0.0"]
