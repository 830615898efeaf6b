"""A model this node's package does not serve (a kind or a detect output format of a newer package) fails its
photos with `model_not_served`, which no retry on this node can mend; and a manifest the node cannot parse,
as the registry stores it, is not downloaded again for every photo once the retry wait is over."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from batch_tasks import errors
from batch_tasks.errors import NodeError
from batch_tasks.models import serving
from batch_tasks.node import registry as registry_module
from batch_tasks.node.registry import Registry
from tests.support.onnx_models import write_classify_model, write_detect_model

CPU = ["CPUExecutionProvider"]


class Published:
    """The registry: one version's folder, and every download of it (the whole model, as storage copies it)."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.downloads = folder, 0

    def download(self, name: str, version: str, dest: Path) -> None:
        self.downloads += 1
        shutil.copytree(self.folder, dest, dirs_exist_ok=True)


def edit_manifest(folder: Path, change: dict[str, Any]) -> Path:
    document = json.loads((folder / "manifest.json").read_text())
    for key, value in change.items():
        section, _, inner = key.partition(".")
        if inner:
            document[section][inner] = value
        else:
            document[section] = value
    (folder / "manifest.json").write_text(json.dumps(document))
    return folder


def registry(models_dir: Path, published: Published | None = None) -> Registry:
    return Registry(models_dir, lambda f: serving.load_model(f, CPU), capacity=2, max_batch=8, max_wait=0.001,
                    max_queue=8, download=published.download if published else None)  # fmt: skip


def failure_of(node_registry: Registry, model_id: str) -> NodeError:
    with pytest.raises(NodeError) as caught:
        node_registry.get(model_id)
    return caught.value


@pytest.mark.parametrize(
    ("write", "change", "served"),
    [
        (write_detect_model, {"output.format": "yolov11"}, "detect output format 'yolov11'"),  # does not parse here
        (write_classify_model, {"task": "pose"}, "kind 'pose'"),  # not a kind this manifest parser knows
        (write_classify_model, {"task": "segment"}, "kind 'segment'"),  # parses and verifies, but no loader serves it
    ],
)
def test_a_model_of_a_kind_or_format_the_node_does_not_serve_is_model_not_served_and_downloaded_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, write: Any, change: dict[str, Any], served: str
) -> None:
    """It was `model_unavailable`, retryable: Batch spent the task's retries on it, and a manifest that did not
    parse counted as a damaged local copy, so the whole version was downloaded again at every retry wait."""
    published = Published(edit_manifest(write(tmp_path / "registry"), change))
    node = registry(tmp_path / "node", published)
    first = failure_of(node, "newer/1.0.0")
    assert first.code == "model_not_served" and not first.transient
    assert errors.exit_code(first.code) == errors.USAGE
    assert f"does not serve {served}" in first.message and "replace the nodes" in first.message
    assert first.reply()["error"]["retryable"] is False
    monkeypatch.setattr(registry_module, "RETRY_FAILED_LOAD_S", 0.0)  # the retry wait is over, twice
    assert [failure_of(node, "newer/1.0.0").code for _ in range(2)] == ["model_not_served"] * 2
    assert published.downloads == 1


def test_a_manifest_the_node_cannot_parse_is_not_downloaded_again_while_the_local_copy_is_the_registrys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    published = Published(edit_manifest(write_classify_model(tmp_path / "registry"), {"labels": []}))
    node = registry(tmp_path / "node", published)
    monkeypatch.setattr(registry_module, "RETRY_FAILED_LOAD_S", 0.0)
    codes = [failure_of(node, "colours/1.0.0").code for _ in range(3)]
    assert codes == ["model_unavailable"] * 3  # not a newer kind: a malformed manifest
    assert published.downloads == 1
    local = tmp_path / "node" / "colours" / "1.0.0" / "manifest.json"
    local.write_text(local.read_text() + " ")  # the local copy is no longer the registry's: it may be damaged
    assert failure_of(node, "colours/1.0.0").code == "model_unavailable"
    assert published.downloads == 2


def test_a_local_model_the_node_does_not_serve_is_model_not_served_not_unknown(tmp_path: Path) -> None:
    edit_manifest(write_detect_model(tmp_path / "node" / "defects" / "2.0.0"), {"output.format": "yolov11"})
    assert failure_of(registry(tmp_path / "node"), "defects/2.0.0").code == "model_not_served"
    assert failure_of(registry(tmp_path / "node"), "defects/9.9.9").code == "unknown_model"
