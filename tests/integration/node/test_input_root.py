"""On a Batch node (`AZ_BATCH_NODE_ROOT_DIR` set) the server reads only files under the node's root.

The server runs as root in Azure and its socket is open to every local user, so a path elsewhere (or a
symlink under the root that leads elsewhere) would have root decode any file it can read and describe it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.node.conftest import Node, node_env
from tests.integration.ocr import photos


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("batch-root")


@pytest.fixture(scope="module")
def outside(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("elsewhere")


@pytest.fixture(scope="module")
def rooted(root: Path, models_dir: Path, storage: str) -> Iterator[Node]:
    shared = root / "shared"
    env = node_env(shared, AZ_BATCH_NODE_ROOT_DIR=str(root), SITELENS_STORAGE_CONNECTION=storage)
    with Node(shared, env).running() as n:
        yield n


def _photo(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    image = photos.paper(480, 960, seed=len(text))
    photos.write(image, text, (80, 240), 2.0, 4)
    path = folder / "input.jpg"
    path.write_bytes(photos.jpeg(image))
    return path


def _read(node: Node, path: Path) -> dict[str, Any]:
    return node.call({"op": "read", "model": "ocr/ppocrv4", "path": str(path)})


def _refused(reply: dict[str, Any]) -> bool:
    assert reply["ok"] is False, reply
    return reply["error"]["code"] == "bad_request" and "outside the node's root" in reply["error"]["message"]


def test_a_photo_under_the_root_is_read(rooted: Node, root: Path) -> None:
    inside = _photo(root / "workitems" / "job" / "job-1" / "t1" / "wd", "TANK 7")
    reply = _read(rooted, inside)
    assert reply["ok"] is True, reply
    assert [photos.canon(line["text"]) for line in reply["result"]["lines"]] == ["TANK7"]


def test_a_path_outside_the_root_is_refused_whether_or_not_it_exists(rooted: Node, outside: Path) -> None:
    assert _refused(_read(rooted, _photo(outside / "plain", "GATE 31")))
    assert _refused(_read(rooted, outside / "absent.jpg"))  # refused, not input_missing: nothing said of it
    assert _refused(_read(rooted, rooted.shared / ".." / ".." / outside.name / "plain" / "input.jpg"))


def test_symlinks_under_the_root_that_lead_outside_are_refused(rooted: Node, root: Path, outside: Path) -> None:
    target = _photo(outside / "linked", "FAN F-9")
    wd = root / "workitems" / "job" / "job-1" / "t2" / "wd"
    wd.mkdir(parents=True)
    (wd / "input.jpg").symlink_to(target)
    (wd / "folder").symlink_to(target.parent, target_is_directory=True)
    assert _refused(_read(rooted, wd / "input.jpg"))
    assert _refused(_read(rooted, wd / "folder" / "input.jpg"))
    assert rooted.health()["ready"] is True


def test_a_task_reads_its_input_under_the_root_and_not_one_outside(rooted: Node, root: Path, outside: Path) -> None:
    inside = _photo(root / "workitems" / "job" / "job-1" / "j_inside" / "wd", "METER 4512")
    done = rooted.task("j_inside", str(inside))
    assert done.returncode == 0, done.stderr
    refused = rooted.task("j_outside", str(_photo(outside / "task", "VALVE V-22")))
    assert refused.returncode == 2, refused.stderr  # bad_request: a usage error, as the task's exit codes say
    assert "outside the node's root" in refused.stderr
