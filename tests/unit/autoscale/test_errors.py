"""Every class of syntax and evaluation error gives Azure's code, a line and a column, and changes nothing."""

from __future__ import annotations

import pytest

from autoscale import Formula, FormulaError, PoolState
from tests.unit.autoscale.histories import run

SYNTAX = "AutoScalingFormulaSyntaxError"


@pytest.mark.parametrize(
    ("text", "where", "detail"),
    [
        ("x = 1 +;", (1, 8), "Unexpected ';'"),
        ("x = (1 + 2;", (1, 11), "Expected ')' but found ';'"),
        ("x = 1\ny = 2", (2, 1), "Expected ';' but found 'y'"),  # a missing ';' between statements
        ("x = 1 # 2", (1, 7), "Unexpected character '#'"),
        ("x = [1, 2]", (1, 5), "Unexpected character '['"),  # no vector literals
        ('x = "open', (1, 5), "Unterminated string"),
        ("x = 1; /* open", (1, 8), "Unterminated comment"),
        ("x = foo(1)", (1, 5), "Unknown function 'foo'"),
        ("x = percentile(1)", (1, 5), "'percentile' takes 2 argument(s), not 1"),
        ("x = rand(1)", (1, 5), "'rand' takes 0 argument(s), not 1"),
        ("x = avg()", (1, 5), "'avg' takes at least 1 argument(s), not 0"),
        ("x = $PendingTasks.GetSample(1, 2, 3, 4)", (1, 19), "'GetSample' takes 1 to 3 argument(s), not 4"),
        ("x = $PendingTasks.Average()", (1, 19), "Unknown method 'Average'"),
        ("y = 1; x = y.GetSample(1)", (1, 14), "Only metrics such as $PendingTasks have methods"),
        ("x = time().hours", (1, 12), "Unknown member 'hours'"),
        ("x = time().$hour", (1, 12), "Expected a member or method name after '.'"),
        ("$PendingTasks = 3", (1, 1), "'$PendingTasks' is read-only"),
        ("$CurrentDedicated = 3", (1, 1), "'$CurrentDedicated' is read-only"),
        ("TimeInterval_Minute = 3", (1, 1), "'TimeInterval_Minute' is read-only"),
        ("x = 1;; y = 2", (1, 7), "Expected a variable name but found ';'"),
        ("x = 1e999", (1, 5), "The number 1e999 is out of range"),
        ("x = 1 ? 2", (1, 10), "Expected ':' but found end of formula"),
        ("   // only a comment\n", (2, 1), "The formula has no statements"),
        ("", (1, 1), "The formula has no statements"),
    ],
)
def test_syntax_errors_name_code_line_and_column(text, where, detail):
    with pytest.raises(FormulaError) as e:
        Formula.parse(text)
    assert e.value.code == SYNTAX
    assert e.value.message == "The specified autoscale formula has a syntax error"
    assert (e.value.position.line, e.value.position.col) == where
    assert detail in e.value.detail
    assert e.value.values == [{"name": "Message", "value": f"Line {where[0]}, Col {where[1]}: {e.value.detail}"}]


@pytest.mark.parametrize(
    ("text", "where", "detail"),
    [
        # operators outside the documented table, at the operator
        ("x = 1 + time();", (1, 7), "Operator '+' is not defined for double and timestamp"),
        ("x = time() - TimeInterval_Hour;", (1, 12), "Operator '-' is not defined for timestamp and timeinterval"),
        ("x = time() + time();", (1, 12), "not defined for timestamp and timestamp"),
        ("x = TimeInterval_Hour * TimeInterval_Hour;", (1, 23), "not defined for timeinterval and timeinterval"),
        ("x = 2 - lg(2, 4);", (1, 7), "not defined for double and doubleVec"),
        ("x = lg(2, 4) < 3;", (1, 14), "not defined for doubleVec and double"),
        ('x = "a" + "b";', (1, 9), "not defined for string and string"),
        ('x = "a" < 1;', (1, 9), "not defined for string and double"),
        ("x = -lg(2, 4);", (1, 5), "Operator '-' is not defined for a doubleVec"),
        ("x = !TimeInterval_Hour;", (1, 5), "Operator '!' is not defined for a timeinterval"),
        ("x = 1 && time();", (1, 7), "Operator '&&' is not defined for double and timestamp"),
        ("x = lg(2, 4) + lg(2, 4, 8);", (1, 14), "lengths 2 and 3"),
        ("x = 1 / 0;", (1, 7), "Division by zero"),
        ("x = TimeInterval_Hour / 0;", (1, 23), "Division by zero"),
        ("x = time() ? 1 : 2;", (1, 12), "A condition must be a double, not a timestamp"),
        # functions, at the function name
        ("x = avg(time());", (1, 5), "'avg' takes doubles and doubleVecs, not a timestamp"),
        ("x = avg($PendingTasks.GetSample(1));", (1, 5), "'avg' of an empty doubleVec"),
        ("x = lg(0);", (1, 5), "'lg' is undefined for 0"),
        ("x = percentile(lg(2), 50);", (1, 5), "'percentile' takes a doubleVec and a double"),
        ("x = percentile(lg(2, 4), 101);", (1, 5), "from 0 to 100, not 101"),
        ("x = val(1, 0);", (1, 5), "'val' takes a doubleVec and a double index"),
        ("x = time(3);", (1, 5), "'time' takes a string, not a double"),
        ('x = time("yesterday");', (1, 5), 'cannot read "yesterday"'),
        # names, members, methods
        ("x = y + 1;", (1, 5), "Undefined variable 'y'"),
        ("x = (1).hour;", (1, 9), "'hour' is a member of a timestamp, not of a double"),
        ("x = $PendingTasks.GetSamplePercent(TimeInterval_Minute, 50);", (1, 35), "argument 2, a double, does not fit"),
        ("x = $PendingTasks.GetSample(1, 2);", (1, 28), "GetSample's first argument must be a timeinterval"),
        ("x = $PendingTasks.HistoryBeginTime();", (1, 35), "$PendingTasks has no samples"),
        # assignments to the service variables
        ("$TargetDedicatedNodes = time();", (1, 1), "'$TargetDedicatedNodes' must be a double, not a timestamp"),
        ("$TargetLowPriority = lg(2, 4);", (1, 1), "'$TargetLowPriority' must be a double, not a doubleVec"),
        ("$NodeDeallocationOption = 3;", (1, 1), "must be one of requeue, terminate, taskcompletion, retaineddata"),
        ('$NodeDeallocationOption = "taskcompletion";', (1, 1), "not a string"),  # bare words only
    ],
)
def test_evaluation_errors_name_code_line_and_column_and_leave_targets_unchanged(text, where, detail):
    r = run(text, PoolState(target_dedicated=3, target_low_priority=1))
    assert r.error is not None and r.applied is None and r.node_deallocation_option is None
    assert r.error.code == "AutoScalingFormulaEvaluationError"
    assert r.error.message == "Autoscale evaluation failed"
    assert (r.error.position.line, r.error.position.col) == where
    assert detail in r.error.detail
    assert r.results == "$TargetDedicatedNodes=3;$TargetLowPriorityNodes=1;$NodeDeallocationOption=requeue"


def test_an_error_after_assignments_still_changes_nothing():
    r = run(
        "$TargetDedicatedNodes = 9;\n$NodeDeallocationOption = terminate;\nx = 1 / 0;", PoolState(target_dedicated=2)
    )
    assert r.applied is None
    assert r.results == "$TargetDedicatedNodes=2;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue"
    assert r.error.as_dict() == {
        "code": "AutoScalingFormulaEvaluationError",
        "message": "Autoscale evaluation failed",
        "values": [{"name": "Message", "value": "Line 3, Col 7: Division by zero"}],
    }
