"""Git checkouts for tests: listing what one holds, and one made by another user.

git refuses a work tree another user owns ("dubious ownership", exit 128) unless `safe.directory` names it,
which is how a CI job running as root meets a checkout made by another user. The tests trust the checkout
they run from, so they name it; and a failure of git in a tree that has `.git` fails the test rather than
skipping it, since a skip there would pass a run that checked nothing. Only a tree without `.git` (a source
archive) skips.
"""

from __future__ import annotations

import os
import pwd
import subprocess
from pathlib import Path

import pytest


def ls_files(repo: Path, *args: str) -> list[str]:
    """The paths `git ls-files -z ARGS` lists in `repo`, whoever owns it; skips the test where `repo` has no
    `.git`, fails it where git fails in one that has."""
    if not (repo / ".git").exists():
        pytest.skip(f"{repo} is not a git checkout (no .git)")
    command = ["git", "-C", str(repo), "-c", f"safe.directory={repo}", "ls-files", "-z", *args]
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    except OSError as exc:
        pytest.fail(f"{repo} is a git checkout but git could not run: {exc}")
    if done.returncode != 0:
        pytest.fail(f"git ls-files failed in {repo} (exit {done.returncode}): {done.stderr.strip()}")
    return [name for name in done.stdout.split("\0") if name]


def hand_to_another_user(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make `tree` a checkout of another user's, as CI running as root meets one; git's global and system
    config are set aside for the test's processes, so none of it trusts the tree. Asserts that git refuses it."""
    if os.geteuid() != 0:
        pytest.skip("only root can give a tree to another user")
    nobody = pwd.getpwnam("nobody")
    for path in (tree, *tree.rglob("*")):
        os.lchown(path, nobody.pw_uid, nobody.pw_gid)
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    refused = subprocess.run(["git", "-C", str(tree), "ls-files"], capture_output=True, text=True, check=False)
    assert refused.returncode != 0 and "dubious ownership" in refused.stderr, refused
