"""Which files the node server may read: `batch_tasks.node.inputs.readable` on a real file system."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from batch_tasks.errors import NodeError
from batch_tasks.node import inputs


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "root").mkdir()
    return inputs.input_root({"AZ_BATCH_NODE_ROOT_DIR": str(tmp_path / "root")}) or pytest.fail("no root")


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "elsewhere" / "secret"
    path.parent.mkdir()
    path.write_bytes(b"root's secret")
    return path


def _code(path: Path, root: Path | None) -> str:
    with pytest.raises(NodeError) as refused, inputs.readable(str(path), root):
        pytest.fail("read")
    return refused.value.code


def test_off_a_node_any_path_is_passed_on_as_it_is(secret: Path) -> None:
    assert inputs.input_root({}) is None
    with inputs.readable(str(secret), None) as source:
        assert source == str(secret)


def test_a_file_under_the_root_is_read_through_the_open_file(root: Path) -> None:
    photo = root / "wd" / "input.jpg"
    photo.parent.mkdir()
    photo.write_bytes(b"pixels")
    with inputs.readable(str(photo), root) as source:
        assert source.startswith(f"/proc/{os.getpid()}/fd/")
        photo.unlink()  # gone by name: the open file is still what is read
        assert Path(source).read_bytes() == b"pixels"
    assert not Path(source).exists()  # closed when the block ends


def test_paths_outside_the_root_are_refused(root: Path, secret: Path) -> None:
    assert _code(secret, root) == "bad_request"
    assert _code(secret.parent / "absent", root) == "bad_request"  # not input_missing: nothing said of it
    assert _code(root / ".." / "elsewhere" / "secret", root) == "bad_request"
    (root / "link").symlink_to(secret)
    (root / "folder").symlink_to(secret.parent, target_is_directory=True)
    assert _code(root / "link", root) == "bad_request"
    assert _code(root / "folder" / "secret", root) == "bad_request"


def test_a_link_swapped_in_after_the_check_is_refused(
    root: Path, secret: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The name is checked before opening; a symlink put in its place between the check and the open is caught
    by the open file's own name (here the check is made to see the path as it was before the swap)."""
    (root / "input.jpg").symlink_to(secret)
    monkeypatch.setattr(os.path, "realpath", str)  # the path as the check saw it, before the swap
    assert _code(root / "input.jpg", root) == "bad_request"


def test_what_is_not_a_file_under_the_root_is_missing_input(root: Path) -> None:
    assert _code(root / "absent.jpg", root) == "input_missing"
    assert _code(root, root) == "input_missing"  # a folder
    os.mkfifo(root / "pipe")  # opened without blocking, then refused
    assert _code(root / "pipe", root) == "input_missing"
