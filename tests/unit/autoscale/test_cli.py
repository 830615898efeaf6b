"""`sitelens autoscale eval` and `check`: output, exit codes, the history file, the documented example."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from sitelens.cli import main

ROOT = Path(__file__).resolve().parents[3]
DEPLOYED = ROOT / "infra" / "autoscale.formula"


def sitelens(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["autoscale", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def write(tmp_path: Path):
    def write(name: str, content: str | dict[str, object]) -> str:
        path = tmp_path / name
        path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
        return str(path)

    return write


def test_check_passes_the_deployed_formula_strictly(capsys):
    code, out, err = sitelens(capsys, "check", "--strict", str(DEPLOYED))
    assert code == 0 and err == ""
    assert out.startswith(f"{DEPLOYED}: OK (17 statements, ")


def test_check_reports_findings_and_fails_on_them_only_when_strict(capsys, write):
    formula = write("f.formula", "$targetDedicatedNodes = 2;")
    code, out, err = sitelens(capsys, "check", formula)
    assert code == 0 and "OK (1 statements" in out
    assert err == f"{formula}: Line 1, Col 1: '$targetDedicatedNodes' is a user variable; the service-defined name " \
                  "is spelled '$TargetDedicatedNodes'\n"  # fmt: skip
    assert sitelens(capsys, "check", "--strict", formula)[0] == 1


@pytest.mark.parametrize(
    ("text", "code", "value"),
    [
        ("x = ", "AutoScalingFormulaSyntaxError", "Line 1, Col 5: Unexpected end of formula"),
        ("x = 1;" + " " * 8200, "AutoScalingFormulaTooLong", "The formula has 8206 characters; the limit is 8192"),
    ],
)
def test_check_prints_azures_error_and_exits_1(capsys, write, text, code, value):
    status, out, _ = sitelens(capsys, "check", write("f.formula", text))
    assert status == 1
    assert json.loads(out) == {"code": code, "message": json.loads(out)["message"], "values": [
        {"name": "Message", "value": value}]}  # fmt: skip


def test_eval_prints_the_results_string(capsys, write):
    formula = write("f.formula", "p = $PendingTasks.GetSample(TimeInterval_Minute * 2, 50);\n"
                                 "$TargetDedicatedNodes = max(p) / $TaskSlotsPerNode;")  # fmt: skip
    history = write("h.json", {"pool": {"taskSlotsPerNode": 2, "vmSize": "standard_nc4as_t4_v3"},
                               "samples": {"$PendingTasks": [[30, 4], [60, 6], [90, 8], [150, 99]]}})  # fmt: skip
    code, out, _ = sitelens(capsys, "eval", "--formula", formula, "--history", history, "--now", "2026-11-22T12:00:00Z")
    # the 2-minute window holds the samples 30, 60 and 90 s old (oldest first): 3 of 4 possible, 75 % >= 50 %;
    # max 8 / 2 slots = 4. vmSize is a pool field the formula cannot read: ignored.
    assert code == 0
    assert out == "$TargetDedicatedNodes=4;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue;p=[8,6,4]\n"


def test_eval_lag_option(capsys, write):
    formula = write("f.formula", "v = $ActiveTasks.GetSample(5);")
    history = write("h.json", {"samples": {"$ActiveTasks": [[40, 1], [20, 2]]}})
    assert sitelens(capsys, "eval", "--formula", formula, "--history", history)[1].endswith("v=[1]\n")
    assert sitelens(capsys, "eval", "--formula", formula, "--history", history, "--lag", "10")[1].endswith("v=[1,2]\n")


def test_eval_prints_a_runtime_error_as_azure_does_and_exits_1(capsys, write):
    formula = write("f.formula", "\n\nx = $PendingTasks.GetSample(TimeInterval_Minute * 10, 90);")
    code, out, _ = sitelens(capsys, "eval", "--formula", formula)  # no history: no samples
    assert code == 1
    assert json.loads(out) == {
        "code": "InsufficientSampleData",
        "message": "Autoscale evaluation failed due to insufficient sample data",
        "values": [{"name": "Message",
                    "value": "Line 3, Col 28: Insufficient data from data set: $PendingTasks wanted 90%, received 0%"}],
    }  # fmt: skip


@pytest.mark.parametrize(
    ("history", "message"),
    [
        ({"samples": {"$PendingTask": []}}, "'$PendingTask' is not a metric"),
        ({"samples": {"$PendingTasks": [[30]]}}, "must be [seconds_before_now, value], not [30]"),
        ({"pool": {"taskSlotsPerNode": 0}}, "taskSlotsPerNode must be at least 1"),
        ({"pool": {"currentDedicatedNodes": 1.5}}, "currentDedicatedNodes must be a whole number"),
        ({"pools": {}}, "unknown top-level key(s) ['pools']"),
        ("[1, 2]", "a history file is a JSON object"),
        ("{not json", "Expecting property name"),
    ],
)
def test_eval_rejects_a_malformed_history_with_exit_2(capsys, write, history, message):
    formula = write("f.formula", "x = 1;")
    code, out, err = sitelens(capsys, "eval", "--formula", formula, "--history", write("h.json", history))
    assert code == 2 and out == ""
    assert message in err


def test_unreadable_files_exit_2(capsys, tmp_path):
    missing = str(tmp_path / "missing.formula")
    assert sitelens(capsys, "check", missing)[0] == 2
    assert sitelens(capsys, "eval", "--formula", missing)[0] == 2


def test_eval_without_now_uses_the_current_time(capsys, write):
    code, out, _ = sitelens(capsys, "eval", "--formula", write("f.formula", "y = time().year;"))
    assert code == 0 and re.fullmatch(r".*;y=20\d\d\n", out)


def test_the_documented_example_prints_what_the_documentation_says(capsys, write):
    docs = (ROOT / "docs" / "autoscale.md").read_text(encoding="utf-8")
    example = re.search(r"### The history file.*?```json\n(.*?)```", docs, re.DOTALL)
    command = re.search(r"sitelens autoscale eval --formula infra/autoscale.formula --history pool.json "
                        r"--now (\S+)", docs)  # fmt: skip
    printed = re.search(r"prints\n\n```\n(.*?)\n```", docs, re.DOTALL)
    assert example and command and printed
    history = write("pool.json", example.group(1))
    code, out, _ = sitelens(capsys, "eval", "--formula", str(DEPLOYED), "--history", history, "--now", command.group(1))
    assert code == 0 and out == printed.group(1) + "\n"
