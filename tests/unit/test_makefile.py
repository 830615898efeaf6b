"""The Makefile run for real in a scratch folder, with stand-ins for Python and `sitelens` that record their
calls: a .venv or a PYTHON of an unsupported version is refused before anything is installed, the model is
fetched once, `make dev` passes DEV_ARGS on. Offline: nothing is installed or fetched."""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MAKEFILE = REPO / "Makefile"
# Answers the version check's `-c` with $FAKE_VERSION; `-m venv DIR` puts a copy of itself at DIR/bin/python.
FAKE_PYTHON = """\
#!/bin/bash
echo "python $*" >> "$CALLS"
case "$1" in
  -c) echo "$FAKE_VERSION" ;;
  -m) if [ "$2" = venv ]; then mkdir -p "$3/bin" && cp "$0" "$3/bin/python"; fi ;;
esac
"""
FAKE_SITELENS = '#!/bin/bash\necho "sitelens $*" >> "$CALLS"\n'  # fetch leaves a present model's manifest alone
INPUTS = ("requirements.txt", "requirements-dev.txt", "constraints.txt", "pyproject.toml", "package.json",
          "package-lock.json", "batch_tasks/models/ppocrv4.py")  # fmt: skip
STAMPS = (".venv/.installed", "node_modules/.installed")
MANIFEST = "models/ocr/ppocrv4/manifest.json"


def write(path: Path, text: str = "", *, executable: bool = False, age_s: float = 0.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if executable:
        path.chmod(0o755)
    stamp = time.time() - age_s
    os.utime(path, (stamp, stamp))
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A checkout's inputs, older than anything make would build from them."""
    for name in INPUTS:
        write(tmp_path / name, age_s=300)
    return tmp_path


def make(tree: Path, *args: str, version: str = "3.12") -> subprocess.CompletedProcess[str]:
    # An outer make's flags and variables (make test PYTHON=...) stay out: this run sees only its arguments.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "PYTHON", "DEV_ARGS")}
    env.update(CALLS=str(tree / "calls"), FAKE_VERSION=version)
    command = ["make", "--no-print-directory", "-f", str(MAKEFILE), *args]
    return subprocess.run(command, check=False, cwd=tree, env=env, capture_output=True, text=True, timeout=60)


def calls(tree: Path) -> list[str]:
    path = tree / "calls"
    return path.read_text().splitlines() if path.exists() else []


def test_a_venv_another_python_made_is_refused_before_anything_is_installed_into_it(tree):
    write(tree / ".venv" / "bin" / "python", FAKE_PYTHON, executable=True)  # a first setup with python3.13
    run = make(tree, ".venv/.installed", version="3.13")
    assert run.returncode != 0
    assert (".venv is Python 3.13; sitelens needs Python 3.11-3.12: rm -rf .venv (or make clean) and run again "
            "with PYTHON=python3.11") in run.stderr  # fmt: skip
    assert not [c for c in calls(tree) if "pip" in c]
    assert not (tree / ".venv" / ".installed").exists()


def test_a_python_of_another_version_makes_no_venv(tree):
    python = write(tree / "python3", FAKE_PYTHON, executable=True)
    run = make(tree, ".venv/.installed", f"PYTHON={python}", version="3.13")
    assert run.returncode != 0
    assert f"PYTHON={python} is Python 3.13; sitelens needs Python 3.11-3.12: run again with PYTHON=python3.11" in (
        run.stderr
    )
    assert not (tree / ".venv").exists()


@pytest.mark.parametrize("version", ["3.11", "3.12"])
def test_a_supported_python_makes_the_venv_and_installs_into_it(tree, version):
    python = write(tree / "python3", FAKE_PYTHON, executable=True)
    run = make(tree, ".venv/.installed", f"PYTHON={python}", version=version)
    assert run.returncode == 0, run.stderr
    assert [c.split()[:3] for c in calls(tree)] == [
        ["python", "-c", "import"],
        ["python", "-m", "venv"],
        ["python", "-m", "pip"],
        ["python", "-m", "pip"],
    ]
    assert (tree / ".venv" / ".installed").exists()


def test_the_model_is_fetched_once_though_fetch_leaves_its_manifest_alone(tree):
    write(tree / ".venv" / ".installed", age_s=200)
    write(tree / ".venv" / "bin" / "sitelens", FAKE_SITELENS, executable=True)
    write(tree / MANIFEST, "{}", age_s=250)  # older than the venv: a requirements change, or a setup after clean
    for _ in range(2):
        run = make(tree, MANIFEST)
        assert run.returncode == 0, run.stderr
    assert calls(tree) == ["sitelens models fetch"]


def test_make_dev_passes_dev_args_to_sitelens_dev(tree):
    for stamp in STAMPS:
        write(tree / stamp, age_s=200)
    write(tree / MANIFEST, "{}", age_s=100)
    run = make(tree, "-n", "dev", "DEV_ARGS=--port 7072 --batch-port 8766")
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [".venv/bin/sitelens dev --port 7072 --batch-port 8766"]


def test_the_makefiles_python_versions_are_those_pyproject_allows():
    pyproject = (REPO / "pyproject.toml").read_text()
    bounds = re.search(r'^requires-python = ">=3\.(\d+),<3\.(\d+)"$', pyproject, re.MULTILINE)
    assert bounds, "requires-python is no longer '>=3.X,<3.Y': read it another way here"
    versions = re.search(r"^PYTHON_VERSIONS := (.+)$", MAKEFILE.read_text(), re.MULTILINE)
    assert versions
    assert versions.group(1).split() == [f"3.{m}" for m in range(int(bounds.group(1)), int(bounds.group(2)))]
