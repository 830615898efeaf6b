"""infra/node/start-task.sh run for real in a stand-in node folder: it builds the venv, puts the package on
its path, points `current` at it, runs `batch_tasks.start` with the versioned python, reuses the venv on a
re-run, and replaces it when the package changes, deleting the old one only once the start succeeded.

The package here is a small stand-in for batch_tasks whose start module reports how it was run (the real
one installs a systemd unit); the requirements are empty, so nothing is downloaded.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.unit.infra import bicep

SCRIPT = bicep.INFRA / "node" / "start-task.sh"
START = """\
import json, os, sys
from pathlib import Path
venvs = sorted(p.name for p in Path(os.environ["AZ_BATCH_NODE_SHARED_DIR"], "sitelens").iterdir())
Path(os.environ["REPORT"]).write_text(json.dumps({"argv": sys.argv[1:], "python": sys.executable,
    "cwd": os.getcwd(), "version": VERSION, "venvs_while_starting": venvs}))
sys.exit(int(os.environ.get("START_EXIT", "0")))
"""


def package(wd: Path, version: str) -> None:
    with zipfile.ZipFile(wd / "batch_tasks.zip", "w") as archive:
        archive.writestr("batch_tasks/__init__.py", "")
        archive.writestr("batch_tasks/start.py", f"VERSION = {version!r}\n" + START)
    (wd / "requirements.txt").write_text("# nothing to install\n")
    shutil.copy(SCRIPT, wd / "start-task.sh")


def start_task(tmp_path: Path, start_exit: int = 0) -> dict[str, Any]:
    wd, shared = tmp_path / "startup" / "wd", tmp_path / "shared"
    shared.mkdir(exist_ok=True)
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir(exist_ok=True)
    (fake_bin / "apt-get").write_text("#!/bin/sh\necho apt-get must not run: python3.11 is present >&2\nexit 9\n")
    (fake_bin / "apt-get").chmod(0o755)
    env = {
        "PATH": f"{fake_bin}:{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "AZ_BATCH_NODE_SHARED_DIR": str(shared),
        "REPORT": str(tmp_path / "report.json"),
        "START_EXIT": str(start_exit),  # what the stand-in batch_tasks.start exits with
    }
    result = subprocess.run(["/bin/bash", "start-task.sh"], cwd=wd, env=env, capture_output=True, text=True,
                            timeout=240, check=False)  # fmt: skip
    assert result.returncode == start_exit, result.stdout + result.stderr
    report: dict[str, Any] = json.loads((tmp_path / "report.json").read_text())
    report["log"] = result.stdout
    return report


@pytest.fixture
def node(tmp_path: Path) -> Path:
    if not shutil.which("python3.11"):
        pytest.fail("python3.11 is not on PATH (the start task installs it on a node; here it must exist)")
    (tmp_path / "startup" / "wd").mkdir(parents=True)
    return tmp_path


def test_builds_reuses_and_replaces_the_node_venv(node: Path) -> None:
    wd, root = node / "startup" / "wd", node / "shared" / "sitelens"
    package(wd, "one")
    first = start_task(node)
    assert first["argv"] == ["--supervisor", "systemd"]
    assert first["version"] == "one"
    assert first["cwd"] == str(node / "shared")
    venv = Path(str(first["python"])).parents[1]
    assert venv.parent == root and venv.name != "current"  # the versioned path: a new package changes the unit
    assert (root / "current").resolve() == venv.resolve()
    assert (root / "current" / "bin" / "python").exists()  # what the task command runs
    assert (venv / ".complete").exists()

    again = start_task(node)  # a reboot: same package
    assert again["python"] == first["python"]
    assert "already built" in str(again["log"])

    package(wd, "two")  # a new deployment
    second = start_task(node)
    assert second["version"] == "two"
    assert second["python"] != first["python"]
    newer = Path(str(second["python"])).parents[1]
    assert (root / "current").resolve() == newer.resolve()
    assert sorted(p.name for p in root.iterdir()) == sorted(["current", newer.name])  # the old one is gone


def test_old_venvs_are_deleted_only_after_the_new_package_started(node: Path) -> None:
    """At a reboot onto a new package, systemd restores the old package's server first: its unit's ExecStart and
    its decode workers' python are in the old venv, which must outlive the start until the unit moved on."""
    wd, root = node / "startup" / "wd", node / "shared" / "sitelens"
    package(wd, "one")
    old = Path(str(start_task(node)["python"])).parents[1]

    package(wd, "two")
    failed = start_task(node, start_exit=1)  # the new server did not come up: the node is starttaskfailed
    assert old.name in failed["venvs_while_starting"]
    assert old.exists()  # still there for whatever runs from it
    new = Path(str(failed["python"])).parents[1]

    started = start_task(node)  # a reboot once the cause is fixed
    assert sorted(started["venvs_while_starting"]) == sorted(["current", new.name, old.name])
    assert sorted(p.name for p in root.iterdir()) == sorted(["current", new.name])
