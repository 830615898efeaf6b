"""checkov on infra/ with its Azure checks and ours (infra/checks): nothing fails, every suppression is
used and gives its reason, and each of our checks fails on a small bad template made for it.

checkov runs from its own venv (.venv-checkov, `make infra-tools`; `make test` builds it first), with
--skip-download so it never reaches out to its vendor's servers.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.unit.infra import bicep

CHECKOV = bicep.REPO / ".venv-checkov" / "bin" / "checkov"
CHECKS = bicep.INFRA / "checks"
BAD = Path(__file__).resolve().parent / "bad_templates"
OUR_IDS = sorted(set(re.findall(r'"(CKV_SITELENS_\d+)"', (CHECKS / "sitelens_checks.py").read_text())))
SKIP = re.compile(r"//\s*checkov:skip=(CKV_\w+):(.*)")


def _start(directory: Path) -> subprocess.Popen[str]:
    command = [str(CHECKOV), "-d", str(directory), "--framework", "bicep", "--external-checks-dir", str(CHECKS),
               "--skip-download", "--output", "json"]  # fmt: skip
    return subprocess.Popen(command, cwd=bicep.REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def reports() -> Iterator[dict[str, dict[str, Any]]]:
    if not CHECKOV.exists():
        pytest.fail(f"{CHECKOV} is missing: run `make infra-tools` (make test does)")
    runs = {"infra": _start(bicep.INFRA), "bad": _start(BAD)}  # both at once: each is mostly start-up
    out = {}
    for name, process in runs.items():
        stdout, stderr = process.communicate(timeout=240)
        # checkov exits 1 when a check fails, which the bad templates are there to make happen.
        assert process.returncode in (0, 1), stderr[-2000:]
        assert "Traceback" not in stderr, f"a check crashed on {name}:\n{stderr[-3000:]}"
        out[name] = json.loads(stdout)
    yield out


def _results(report: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return list(report["results"][f"{kind}_checks"])


def test_checkov_passes_on_infra(reports: dict[str, dict[str, Any]]) -> None:
    report = reports["infra"]
    assert report["summary"]["parsing_errors"] == 0
    assert report["summary"]["resource_count"] > 50
    failed = [(c["check_id"], c["file_path"], c["resource"]) for c in _results(report, "failed")]
    assert failed == []
    assert report["summary"]["passed"] > 30  # checkov's own Azure checks ran, not only ours


def test_each_of_our_checks_passes_on_infra(reports: dict[str, dict[str, Any]]) -> None:
    assert len(OUR_IDS) >= 9
    passed = {c["check_id"] for c in _results(reports["infra"], "passed")}
    assert set(OUR_IDS) <= passed


def test_each_of_our_checks_fails_on_its_bad_template_and_only_there(reports: dict[str, dict[str, Any]]) -> None:
    expected = {}
    for path in sorted(BAD.glob("*.bicep")):
        named = re.search(r"\((CKV_SITELENS_\d+)\)", path.read_text().splitlines()[0])
        assert named, f"{path.name}: the first line names the check it breaks"
        expected[f"/{path.name}"] = {named.group(1)}
    assert {i for ids in expected.values() for i in ids} == set(OUR_IDS), "a check has no bad template"
    failed: dict[str, set[str]] = {name: set() for name in expected}
    for c in _results(reports["bad"], "failed"):
        if c["check_id"].startswith("CKV_SITELENS_"):
            failed[c["file_path"]].add(c["check_id"])
    assert failed == expected


def test_every_suppression_is_used_and_says_why(reports: dict[str, dict[str, Any]]) -> None:
    written = set()
    for path in bicep.bicep_files():
        for check_id, reason in SKIP.findall(path.read_text()):
            assert len(reason.strip()) >= 40, f"{path.name} {check_id}: the reason is too short to be one"
            assert not check_id.startswith("CKV_SITELENS_"), "our own checks are never suppressed"
            written.add((check_id, "/" + path.relative_to(bicep.INFRA).as_posix()))
    skipped = _results(reports["infra"], "skipped")
    assert written == {(c["check_id"], c["file_path"]) for c in skipped}, "a suppression no check uses"
    for c in skipped:
        assert len(c["check_result"].get("suppress_comment", "").strip()) >= 40
