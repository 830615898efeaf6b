"""`sitelens` imports a command group's module only when that group runs: its help lists every group with
nothing but the standard library, the field agent's commands need only the `field` extra, and a command
whose packages are not installed says which one and what installs it."""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sitelens import cli
from tests.support.scripted_http import ScriptedServer

FIELD_ONLY = Path(__file__).with_name("field_only.py")
JOB = "j_" + "a" * 26
# Loads sitelens' CLI with every module outside the standard library refused, then prints its help.
STDLIB_ONLY = """
import importlib.abc, sys
class StdlibOnly(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] not in sys.stdlib_module_names | {"sitelens"}:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, StdlibOnly())
from sitelens import cli
try:
    cli.main(["--help"])
finally:  # which group modules that took: none
    print(sorted(group.module for group in cli._GROUPS.values() if group.module in sys.modules), file=sys.stderr)
"""


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *argv], check=False, capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[3])  # fmt: skip


def test_help_lists_every_group_with_the_standard_library_alone() -> None:
    done = run("-c", STDLIB_ONLY)
    assert done.returncode == 0, done.stderr
    listed = [m[1] for line in done.stdout.splitlines() if (m := re.match(r"    (\S+)", line))]
    assert listed == list(cli._GROUPS)
    assert done.stderr.strip() == "[]"  # no group's module was imported


@pytest.mark.parametrize("group", ["upload", "sync", "jobs", "dashboard"])
def test_a_field_command_needs_only_the_field_extra(group: str) -> None:
    done = run(str(FIELD_ONLY), group, "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: sitelens {group}")


def test_jobs_reads_a_job_through_the_api_with_only_the_field_extra() -> None:
    body = {"id": JOB, "state": "SUCCEEDED", "site": "yard", "reason": None, "cached": False}
    api = ScriptedServer((200, {}, json.dumps(body).encode(), None))
    try:
        done = run(str(FIELD_ONLY), "jobs", "--api", f"{api.origin}/api", "--key", "k", "get", JOB, "--json")
    finally:
        api.close()
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["state"] == "SUCCEEDED"
    assert api.seen == [("GET", f"/api/jobs/{JOB}", "k")]


def test_a_development_command_without_its_packages_names_what_is_missing_and_what_installs_it() -> None:
    done = run(str(FIELD_ONLY), "dev")
    assert done.returncode == 2
    assert done.stderr.strip() == "sitelens dev needs the Python package 'aiohttp', not installed here: make setup"


def test_a_missing_project_module_is_a_broken_install_not_a_missing_package(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str) -> None:
        raise ModuleNotFoundError(f"No module named {name!r}", name="sitelens.sync_agent")

    monkeypatch.setattr(importlib, "import_module", missing)
    with pytest.raises(ModuleNotFoundError):
        cli.main(["sync", "--help"])


@pytest.mark.parametrize("group", list(cli._GROUPS))
def test_the_listed_summary_is_the_one_the_group_registers(group: str) -> None:
    # The top-level help is built from cli's summaries, except for the group asked for, whose module registers
    # its own: the two helps are the same only where the words are.
    assert cli.build_parser([group]).format_help() == cli.build_parser([]).format_help()


@pytest.mark.parametrize("argv", [["models", "route", "--sit", "north-yard", "--model", "m:1.0.0", "--weight", "10"],
                                  ["jobs", "list", "--sit", "north-yard"], ["--verb", "cost"]])  # fmt: skip
def test_an_abbreviated_option_is_refused_not_taken_for_the_option_it_starts(argv, capsys):
    with pytest.raises(SystemExit) as refused:
        cli.build_parser(argv).parse_args(argv)
    said = capsys.readouterr().err
    assert refused.value.code == 2 and ("unrecognized arguments" in said or "are required: --site" in said)
