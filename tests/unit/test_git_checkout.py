"""Listing a checkout's files in tests: another user's checkout is listed, a tree without `.git` skips, and a
git that fails in a checkout fails the test (a skip would let a run that checked nothing pass)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.git_checkout import hand_to_another_user, ls_files


def scratch_checkout(root: Path) -> Path:
    repo = root / "checkout"
    (repo / "docs").mkdir(parents=True)
    (repo / "docs" / "api.md").write_text("# API\n")
    (repo / "notes.txt").write_text("not added yet\n")
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run(["git", "add", "docs"], cwd=repo, check=True)
    return repo


def test_another_users_checkout_is_listed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = scratch_checkout(tmp_path)
    hand_to_another_user(repo, monkeypatch)
    assert ls_files(repo) == ["docs/api.md"]
    assert ls_files(repo, "--others", "--exclude-standard") == ["notes.txt"]


def test_a_tree_without_git_skips(tmp_path: Path) -> None:
    with pytest.raises(pytest.skip.Exception, match="not a git checkout"):
        ls_files(tmp_path)


def test_git_failing_in_a_checkout_fails_the_test(tmp_path: Path) -> None:
    (tmp_path / ".git").write_text("gitdir: nowhere\n")  # a .git that git cannot read
    with pytest.raises(pytest.fail.Exception, match="git ls-files failed"):
        ls_files(tmp_path)
