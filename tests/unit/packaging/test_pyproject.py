"""What an installed `sitelens` carries: the `field` extra pinned exactly as constraints.txt pins the same
packages, and every file the packages read at run time beside their modules (the dashboard's page)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[3]
PACKAGES = ("sitelens", "shared", "batch_tasks", "autoscale", "emulators")
# Tracked files in the packages that an installed package never reads: the node's pins go to Batch beside it.
NOT_INSTALLED = {"batch_tasks/requirements.txt"}


def normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def constraint_pins() -> dict[str, str]:
    pins = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        name, sep, version = line.partition("==")
        if sep and not line.startswith("#"):
            pins[normalised(name)] = version.strip()
    return pins


def tracked(*paths: str) -> list[str]:
    try:
        out = subprocess.run(["git", "ls-files", "-z", "--", *paths], cwd=REPO, capture_output=True, text=True,
                             check=True).stdout  # fmt: skip
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"the repository is not a git checkout: {exc}")
    return [name for name in out.split("\0") if name and (REPO / name).is_file()]


def test_the_field_extra_pins_what_constraints_pins() -> None:
    extra = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["field"]
    pins = constraint_pins()
    for line in extra:
        requirement = Requirement(line)
        (spec,) = requirement.specifier
        assert spec.operator == "==", line  # exact, as every other pin of the project
        assert pins.get(normalised(requirement.name)) == spec.version, f"{line} is not constraints.txt's pin"
    assert {normalised(Requirement(line).name) for line in extra} >= {"azure-storage-blob", "opentelemetry-api"}


def test_the_built_packages_carry_every_data_file_the_sources_hold(tmp_path: Path) -> None:
    # setuptools' build_py lays out exactly what a wheel installs; a scratch copy keeps build output out of
    # the repository, and no build dependency is fetched.
    names = tracked("pyproject.toml", "README.md", *PACKAGES)
    for name in names:
        (tmp_path / "src" / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO / name, tmp_path / "src" / name)
    build_py = [sys.executable, "-c", "from setuptools import setup; setup()", "-q", "build_py"]
    subprocess.run([*build_py, "--build-lib", str(tmp_path / "lib")], cwd=tmp_path / "src", check=True,
                   capture_output=True, timeout=120)  # fmt: skip
    built = {p.relative_to(tmp_path / "lib").as_posix() for p in (tmp_path / "lib").rglob("*") if p.is_file()}
    data = {n for n in names if n.split("/")[0] in PACKAGES and not n.endswith(".py")} - NOT_INSTALLED
    assert "sitelens/dashboard_static/index.html" in data and "sitelens/cli.py" in built
    assert sorted(data - built) == []
    assert not NOT_INSTALLED & built
