"""Operators, types, functions, limits and errors of the formula language."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoscale import Formula, FormulaError, Metrics, PoolState
from autoscale.values import format_number

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def results(text: str, pool: PoolState | None = None, seed: int = 0) -> str:
    r = Formula.parse(text).evaluate(pool or PoolState(), Metrics(), now=NOW, seed=seed)
    assert r.error is None, r.error
    return r.results.split(";", 3)[3] if r.results.count(";") >= 3 else ""


@pytest.mark.parametrize(
    ("expression", "printed"),
    [
        ("1 + 2 * 3", "7"), ("(1 + 2) * 3", "9"), ("10 - 4 - 3", "3"), ("8 / 4 / 2", "1"), ("-2 * -3", "6"),
        ("1 < 2", "1"), ("2 <= 1", "0"), ("1 == 1 && 2 != 2", "0"), ("0 || 3", "1"), ("!0", "1"), ("!5", "0"),
        ("1 ? 2 : 3", "2"), ("0 ? 2 : 0 ? 3 : 4", "4"), ("1 + 1 > 1 ? 10 : 20", "10"), ("2 / 3", "0.666667"),
        ("1e6 * 1.5", "1.5e+06"), ("0.0001", "0.0001"), ("123456789", "1.23457e+08"),
        ("avg(1, 2, 3, 4)", "2.5"), ("len(1, 2, 3)", "3"), ("max(1, 9, 3)", "9"), ("min(4, 2, 8)", "2"),
        ("sum(1, 2, 3.5)", "6.5"), ("range(3, 9, 5)", "6"), ("norm(3, 4)", "5"),
        ("std(2, 4, 4, 4, 5, 5, 7, 9)", "2.13809"),
        ("lg(8)", "3"), ("ln(1)", "0"), ("log(1000)", "3"), ("ceil(1.2)", "2"), ("floor(-1.2)", "-2"),
        ("round(2.5)", "3"), ("round(-2.5)", "-3"), ("percentile(lg(1, 2, 4, 8, 16), 50)", "2"),
        ("val(lg(1, 2, 4), 2)", "2"), ("lg(2, 4)", "[1,2]"), ("ceil(lg(3, 5))", "[2,3]"),
        ("TimeInterval_Minute * 90", "01:30:00"), ("2 * TimeInterval_Day + TimeInterval_Second", "2.00:00:01"),
        ("TimeInterval_Hour / 4", "00:15:00"), ("-TimeInterval_Hour", "-01:00:00"),
        ("time(\"2026-01-02T03:04:05Z\") + TimeInterval_Hour", "2026-01-02T04:04:05.000Z"),
        ("time() - time(\"Mon, 23 Nov 2026 09:00:00 GMT\")", "01:00:00"),
        ("time(\"2026-11-22T10:00:00Z\").weekday", "7"), ("time().month", "11"),
        ("\"abc\" < \"abd\"", "1"), ("TimeInterval_Minute > TimeInterval_Second", "1"),
    ],
)  # fmt: skip
def test_expressions(expression, printed):
    assert results(f"x = {expression};") == f"x={printed}"


def test_user_variables_sort_in_ascii_order_and_keep_their_spelling():
    assert results("b = 1; $a = 2; A = 3; _c = 4;") == "$a=2;A=3;_c=4;b=1"


def test_reassignment_and_reading_earlier_results():
    assert results("x = 1; y = x + 1; x = y * 10;") == "x=20;y=2"


def test_full_target_name_wins_over_alias_in_any_order():
    for text in (
        "$TargetDedicatedNodes = 3; $TargetDedicated = 7;",
        "$TargetDedicated = 7; $TargetDedicatedNodes = 3;",
    ):
        r = Formula.parse(text).evaluate(PoolState(), Metrics(), now=NOW)
        assert r.results.startswith("$TargetDedicatedNodes=3;") and r.applied.dedicated == 3


def test_printed_target_is_the_assigned_value_and_applied_is_truncated():
    r = Formula.parse("$TargetDedicatedNodes = 2.9; $TargetLowPriorityNodes = -3;").evaluate(
        PoolState(), Metrics(), now=NOW
    )
    assert r.results.startswith("$TargetDedicatedNodes=2.9;$TargetLowPriorityNodes=-3;")
    assert (r.applied.dedicated, r.applied.low_priority) == (2, 0)


def test_ternary_evaluates_only_the_selected_branch():
    # the unselected branch would fail with insufficient samples
    text = "x = 1 ? 5 : avg($PendingTasks.GetSample(TimeInterval_Minute * 10, 90));"
    assert results(text) == "x=5"
    assert results("x = 0 && avg($PendingTasks.GetSample(TimeInterval_Minute, 90));") == "x=0"


def test_stop_ends_the_run_and_applies_what_was_assigned():
    r = Formula.parse("$TargetDedicatedNodes = 2; s = stop(); $TargetDedicatedNodes = 9;").evaluate(
        PoolState(), Metrics(), now=NOW
    )
    assert r.applied.dedicated == 2 and r.error is None


def test_comments_and_whitespace():
    text = "/* block\ncomment */ x = // line comment\n  1 +\n 2 ;  "
    assert results(text) == "x=3"


@pytest.mark.parametrize(
    ("text", "code", "where", "detail"),
    [
        ("x = 1 +;", "AutoScalingFormulaSyntaxError", (1, 8), "Unexpected ';'"),
        ("x = (1 + 2;", "AutoScalingFormulaSyntaxError", (1, 11), "Expected ')'"),
        ("x = 1\ny = 2", "AutoScalingFormulaSyntaxError", (2, 1), "Expected ';'"),
        ("x = 1 # 2", "AutoScalingFormulaSyntaxError", (1, 7), "Unexpected character"),
        ("x = foo(1)", "AutoScalingFormulaSyntaxError", (1, 5), "Unknown function 'foo'"),
        ("x = percentile(1)", "AutoScalingFormulaSyntaxError", (1, 5), "does not take 1"),
        ("x = $PendingTasks.Average()", "AutoScalingFormulaSyntaxError", (1, 19), "Unknown method"),
        ("$PendingTasks = 3", "AutoScalingFormulaSyntaxError", (1, 1), "read-only"),
        ("= 3", "AutoScalingFormulaSyntaxError", (1, 1), "Expected a variable name"),
    ],
)
def test_syntax_errors_name_code_line_and_column(text, code, where, detail):
    with pytest.raises(FormulaError) as e:
        Formula.parse(text)
    assert e.value.code == code
    assert (e.value.position.line, e.value.position.col) == where
    assert detail in e.value.detail


@pytest.mark.parametrize(
    ("text", "where", "detail"),
    [
        ("x = 1 + time();", (1, 7), "not defined for double and timestamp"),
        ("x = time() - TimeInterval_Hour;", (1, 12), "not defined for timestamp and timeinterval"),
        ("x = 1 / 0;", (1, 7), "Division by zero"),
        ("x = y + 1;", (1, 5), "Undefined variable 'y'"),
        ("x = val(lg(1, 2), 5);", (1, 5), "outside"),
        ("x = avg($PendingTasks.GetSample(1));", (1, 5), "empty"),
        ("x = (1).hour;", (1, 9), "not a member"),
        ("$TargetDedicatedNodes = time();", (1, 1), "must be a double"),
        ("$NodeDeallocationOption = 3;", (1, 1), "must be one of"),
        ("x = lg(2, 4) + lg(2, 4, 8);", (1, 14), "lengths 2 and 3"),
    ],
)
def test_evaluation_errors_leave_targets_unchanged(text, where, detail):
    r = Formula.parse(text).evaluate(PoolState(target_dedicated=3), Metrics(), now=NOW)
    assert r.error is not None and r.applied is None
    assert r.error.code == "AutoScalingFormulaEvaluationError"
    assert (r.error.position.line, r.error.position.col) == where
    assert detail in r.error.detail
    assert r.results.startswith("$TargetDedicatedNodes=3;")


def test_length_and_statement_limits():
    with pytest.raises(FormulaError) as e:
        Formula.parse("x = 1;" + " " * 8200)
    assert e.value.code == "AutoScalingFormulaTooLong"
    Formula.parse("; ".join(f"v{i} = {i}" for i in range(100)))
    with pytest.raises(FormulaError, match="more than 100 statements"):
        Formula.parse("; ".join(f"v{i} = {i}" for i in range(101)))


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e300, max_value=1e300))
def test_printed_numbers_reparse_to_the_same_text(x):
    printed = format_number(x)
    literal = printed.lstrip("-")
    value = Formula.parse(f"x = {'-' if printed.startswith('-') else ''}{literal};").evaluate(
        PoolState(), Metrics(), now=NOW
    )
    assert value.results.endswith(f"x={printed}")


@settings(max_examples=50)
@given(seed=st.integers(0, 2**31), target=st.floats(-1e9, 1e9, allow_nan=False))
def test_deterministic_for_clock_and_seed_and_never_negative(seed, target):
    formula = Formula.parse(f"r = rand(); $TargetDedicatedNodes = {target!r} * r; $TargetLowPriorityNodes = -r;")
    first = formula.evaluate(PoolState(), Metrics(), now=NOW, seed=seed)
    second = formula.evaluate(PoolState(), Metrics(), now=NOW, seed=seed)
    assert first.results == second.results
    assert first.applied.dedicated >= 0 and first.applied.low_priority == 0
    r = float(first.results.rsplit("r=", 1)[1])
    assert 0 <= r <= 1 and not math.isnan(r)


def test_cli_eval_and_check(tmp_path):
    formula = tmp_path / "f.formula"
    formula.write_text(
        "p = $PendingTasks.GetSample(TimeInterval_Minute * 3, 50); $TargetDedicatedNodes = max(p) / $TaskSlotsPerNode;"
    )
    history = tmp_path / "h.json"
    history.write_text(
        json.dumps({"pool": {"taskSlotsPerNode": 2}, "samples": {"$PendingTasks": [[60, 4], [90, 6], [120, 8]]}})
    )
    cmd = [sys.executable, "-m", "sitelens", "autoscale"]
    args = ["eval", "--formula", str(formula), "--history", str(history), "--now", "2026-11-22T12:00:00Z"]
    ok = subprocess.run([*cmd, *args], capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stderr
    # samples oldest first: 8 (120 s ago), 6, 4; 3 of 6 possible = 50 %; max 8 / 2 slots = 4
    assert (
        ok.stdout.strip()
        == "$TargetDedicatedNodes=4;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue;p=[8,6,4]"
    )
    history.write_text(json.dumps({"samples": {}}))
    bad = subprocess.run(
        [*cmd, "eval", "--formula", str(formula), "--history", str(history)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 1 and json.loads(bad.stdout)["code"] == "InsufficientSampleData"
    assert subprocess.run([*cmd, "check", str(formula)], capture_output=True, check=False).returncode == 0
    formula.write_text("x = ")
    checked = subprocess.run([*cmd, "check", str(formula)], capture_output=True, text=True, check=False)
    assert checked.returncode == 1 and json.loads(checked.stdout)["values"][0]["value"].startswith("Line 1, Col 5")
