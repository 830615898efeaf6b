"""Model versions on demand: downloaded from the `models` container, loaded, and evicted least recently used."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from batch_tasks.models.publish import plan
from sitelens.models_command import upload
from tests.integration.node.conftest import Node, node_env
from tests.integration.ocr import photos


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
    n = Node(shared, node_env(shared, SITELENS_STORAGE_CONNECTION=storage, SITELENS_MODELS_DIR=str(local),
                              SITELENS_MODEL_CACHE="1"))  # fmt: skip
    started = n.start()
    assert started.returncode == 0, started.stderr
    try:
        yield n
    finally:
        n.stop()


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
