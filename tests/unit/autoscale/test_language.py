"""Types, operators, precedence, functions, variables and statements of the formula language."""

from __future__ import annotations

import pytest

from autoscale import Formula, FormulaError, Metrics, PoolState
from tests.unit.autoscale.histories import NOW, run, user_results


@pytest.mark.parametrize(
    ("expression", "printed"),
    [
        # precedence and associativity, C-like
        ("1 + 2 * 3", "7"), ("(1 + 2) * 3", "9"), ("10 - 4 - 3", "3"), ("8 / 4 / 2", "1"), ("-2 * -3", "6"),
        ("!0 + 1", "2"), ("1 < 2 == 1", "1"), ("0 || 1 && 0", "0"), ("1 + 1 > 1 ? 10 : 20", "10"),
        ("1 ? 2 : 3 ? 4 : 5", "2"), ("0 ? 2 : 0 ? 3 : 4", "4"), ("--3", "3"), ("!!7", "1"),
        # comparisons and logic give 1 or 0
        ("1 < 2", "1"), ("2 <= 1", "0"), ("3 >= 3", "1"), ("3 > 3", "0"), ("1 == 1 && 2 != 2", "0"),
        ("0 || 3", "1"), ("2 && -1", "1"), ("!5", "0"),
        ('"abc" < "abd"', "1"), ('"b" == "b"', "1"),
        ("TimeInterval_Minute > TimeInterval_Second", "1"),
        ('time("2026-01-01T00:00:00Z") < time("2026-01-02T00:00:00Z")', "1"),
        # numbers print as %g
        ("2 / 3", "0.666667"), ("1e6 * 1.5", "1.5e+06"), ("0.0001", "0.0001"), ("123456789", "1.23457e+08"),
        ("0.5 - 0.5", "0"), ("-0.0", "0"), (".5", "0.5"), ("1.", "1"),
        # functions over doubleVecLists: lg(2, 4) is the vector [1, 2]
        ("avg(1, 2, 3, 4)", "2.5"), ("avg(lg(2, 4), 7)", "3.33333"), ("len(1, 2, 3)", "3"), ("len(lg(2, 4), 1)", "3"),
        ("max(1, 9, 3)", "9"), ("min(4, lg(2, 4), 8)", "1"), ("sum(1, 2, 3.5)", "6.5"), ("range(3, 9, 5)", "6"),
        ("norm(3, 4)", "5"),
        ("std(2, 4, 4, 4, 5, 5, 7, 9)", "2.13809"),  # mean 5, squares sum 32, 32 / (8 - 1) = 4.571, sqrt → 2.13809
        ("std(5)", "0"), ("lg(8)", "3"), ("ln(1)", "0"), ("log(1000)", "3"), ("lg(2, 4)", "[1,2]"),
        ("ln(lg(2))", "0"),  # lg of a single double is a double
        ("ceil(1.2)", "2"), ("floor(-1.2)", "-2"), ("round(2.5)", "3"), ("round(-2.5)", "-3"), ("round(2.4)", "2"),
        ("ceil(lg(3, 5))", "[2,3]"),  # lg 3 = 1.58, lg 5 = 2.32
        ("percentile(lg(1, 2, 4, 8, 16), 50)", "2"),  # [0,1,2,3,4], rank (5 - 1) * 0.5 = 2
        ("percentile(lg(1, 2, 4, 8), 50)", "1.5"),  # [0,1,2,3], rank 1.5: 1 + (2 - 1) * 0.5
        ("percentile(lg(1, 2, 4, 8), 100)", "3"),
        ("val(lg(1, 2, 4), 2)", "2"), ("val(lg(1, 2, 4), 0)", "0"),
        ("val(lg(1, 2), 5)", "0"),  # outside the vector: 0 (assumptions.VAL_OUTSIDE_VECTOR)
        # element-wise vector arithmetic
        ("lg(2, 4) * 3", "[3,6]"), ("lg(2, 4) + lg(8, 16)", "[4,6]"), ("lg(2, 4) / 2", "[0.5,1]"),
        # timeintervals print as .NET TimeSpans
        ("TimeInterval_Minute * 90", "01:30:00"), ("2 * TimeInterval_Day + TimeInterval_Second", "2.00:00:01"),
        ("TimeInterval_Hour / 4", "00:15:00"), ("-TimeInterval_Hour", "-01:00:00"), ("TimeInterval_Zero", "00:00:00"),
        ("TimeInterval_100ns * 5", "00:00:00.0000005"), ("TimeInterval_Millisecond * 1.5", "00:00:00.0015000"),
        ("TimeInterval_Microsecond", "00:00:00.0000010"), ("TimeInterval_Week", "7.00:00:00"),
        ("TimeInterval_Year / 365", "1.00:00:00"), ("TimeInterval_Hour - TimeInterval_Day", "-23:00:00"),
        # timestamps print as ISO 8601 UTC with milliseconds; members read their parts
        ('time("2026-01-02T03:04:05Z") + TimeInterval_Hour', "2026-01-02T04:04:05.000Z"),
        ('TimeInterval_Hour + time("2026-01-02T03:04:05.678Z")', "2026-01-02T04:04:05.678Z"),
        ('time("2026-01-02T03:04:05+02:00")', "2026-01-02T01:04:05.000Z"),
        ('time() - time("Mon, 23 Nov 2026 09:00:00 GMT")', "01:00:00"),
        ('time("")', "2026-11-23T10:00:00.000Z"), ("time()", "2026-11-23T10:00:00.000Z"),
        ('time("2026-11-22T10:00:00Z").weekday', "7"), ("time().weekday", "1"),  # Sunday, then Monday
        ("time().year", "2026"), ("time().month", "11"), ("time().day", "23"), ("time().hour", "10"),
        ('time("2026-11-23T10:11:12Z").minute', "11"), ('time("2026-11-23T10:11:12Z").second', "12"),
        # strings and bare words are values too
        ('"any text"', "any text"), ("taskcompletion", "taskcompletion"),
    ],
)  # fmt: skip
def test_expressions(expression, printed):
    assert user_results(f"x = {expression};") == f"x={printed}"


def test_rand_is_uniform_in_zero_to_one_and_fixed_by_the_seed():
    formula = Formula.parse("a = rand(); b = rand();")
    draws = [formula.evaluate(PoolState(), now=NOW, seed=seed).results for seed in range(50)]
    values = [float(part.split("=")[1]) for results in draws for part in results.split(";")[3:]]
    assert all(0 <= v <= 1 for v in values)
    assert len(set(values)) > 90  # 100 draws, practically all different
    assert formula.evaluate(PoolState(), now=NOW, seed=3).results == draws[3]


def test_user_variables_sort_in_ascii_order_and_keep_their_spelling():
    # '$' (0x24) < 'A' (0x41) < '_' (0x5F) < 'b' (0x62)
    assert user_results("b = 1; $a = 2; A = 3; _c = 4;") == "$a=2;A=3;_c=4;b=1"


def test_dollar_and_plain_spellings_are_different_variables():
    assert user_results("x = 1; $x = 2; y = x + $x;") == "$x=2;x=1;y=3"


def test_reassignment_and_reading_earlier_results():
    assert user_results("x = 1; y = x + 1; x = y * 10;") == "x=20;y=2"


def test_reading_a_target_before_assigning_it_gives_the_pools_target():
    r = run("half = $TargetDedicatedNodes / 2; low = $TargetLowPriority;", PoolState(5, 3))
    assert (
        r.results == "$TargetDedicatedNodes=5;$TargetLowPriorityNodes=3;$NodeDeallocationOption=requeue;half=2.5;low=3"
    )


@pytest.mark.parametrize(
    ("text", "dedicated"),
    [
        ("$TargetDedicatedNodes = 3; $TargetDedicated = 7;", 3),
        ("$TargetDedicated = 7; $TargetDedicatedNodes = 3;", 3),
        ("$TargetDedicated = 7; $TargetDedicated = 8;", 8),  # an alias alone may be reassigned
        ("$TargetDedicated = 7; y = $TargetDedicatedNodes; $TargetDedicatedNodes = y + 1;", 8),
    ],
)
def test_the_full_target_name_wins_over_its_alias(text, dedicated):
    r = run(text)
    assert r.results.startswith(f"$TargetDedicatedNodes={dedicated};")
    assert r.applied.dedicated == dedicated
    assert "$TargetDedicated=" not in r.results


def test_low_priority_alias():
    r = run("$TargetLowPriority = 2;")
    assert r.results.startswith("$TargetDedicatedNodes=0;$TargetLowPriorityNodes=2;")
    assert r.applied.low_priority == 2


def test_node_deallocation_option_defaults_to_requeue_and_takes_bare_words():
    assert run("x = 1;").applied.node_deallocation_option == "requeue"
    for option in ("requeue", "terminate", "taskcompletion", "retaineddata"):
        r = run(f"$NodeDeallocationOption = {option};")
        assert r.node_deallocation_option == option
        assert r.results.endswith(f"$NodeDeallocationOption={option}")
    chosen = run(
        "$NodeDeallocationOption = $CurrentDedicatedNodes > 2 ? taskcompletion : terminate;", PoolState(3, 0, 3)
    )
    assert chosen.node_deallocation_option == "taskcompletion"


def test_printed_target_is_the_assigned_value_and_applied_is_truncated_and_never_negative():
    r = run("$TargetDedicatedNodes = 2.9; $TargetLowPriorityNodes = -3.5;")
    assert r.results.startswith("$TargetDedicatedNodes=2.9;$TargetLowPriorityNodes=-3.5;")
    assert (r.applied.dedicated, r.applied.low_priority) == (2, 0)


def test_the_ternary_evaluates_only_the_selected_branch():
    # each unselected branch would fail: no samples for a 90 % window, or an undefined name
    assert user_results("x = 1 ? 5 : avg($PendingTasks.GetSample(TimeInterval_Minute * 10, 90));") == "x=5"
    assert user_results("x = 0 ? undefinedName : 6;") == "x=6"


def test_logic_short_circuits():
    assert user_results("x = 0 && undefinedName; y = 1 || undefinedName;") == "x=0;y=1"
    assert run("x = 1 && undefinedName;").error.detail == "Undefined variable 'undefinedName'"


def test_stop_ends_the_run_and_applies_what_was_assigned():
    r = run("$TargetDedicatedNodes = 2; s = 0 ? 1 : stop(); $TargetDedicatedNodes = 9;")
    assert r.error is None and r.applied.dedicated == 2
    assert r.results == "$TargetDedicatedNodes=2;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue"
    assert run("x = 1 ? 4 : stop(); $TargetDedicatedNodes = x;").applied.dedicated == 4  # not selected: no stop


def test_an_expression_statement_is_evaluated_but_not_printed():
    assert user_results("x = 1; x + 1; 3;") == "x=1"
    failed = run("x = 1;\n$PendingTasks.GetSample(TimeInterval_Minute, 50);")
    assert failed.error.code == "InsufficientSampleData"


def test_metrics_read_as_values():
    pool = PoolState(target_dedicated=2, current_dedicated=3, current_low_priority=1, task_slots_per_node=4)
    text = "a = $CurrentDedicatedNodes; b = $CurrentLowPriorityNodes; c = $TaskSlotsPerNode; d = $CurrentDedicated;"
    assert user_results(text, pool) == "a=3;b=1;c=4;d=3"
    # a task metric read as a value is its latest visible sample (the one 20 s old is not yet visible), else 0
    samples = [[90, 5], [60, 6], [20, 7]]
    assert user_results("p = $PendingTasks; r = $RunningTasks;", PendingTasks=samples) == "p=6;r=0"


def test_comments_and_whitespace():
    text = "/* block\ncomment */ x = // line comment\n  1 +\n\t2 ;  // trailing\n"
    assert user_results(text) == "x=3"
    assert user_results("x = 1 // no semicolon after the last statement") == "x=1"


def test_length_and_statement_limits():
    at_limit = "x = 1;" + " " * (8192 - 6)
    assert len(at_limit) == 8192 and Formula.parse(at_limit).statements
    with pytest.raises(FormulaError, match="8193 characters; the limit is 8192") as too_long:
        Formula.parse(at_limit + " ")
    assert too_long.value.code == "AutoScalingFormulaTooLong"
    assert len(Formula.parse("; ".join(f"v{i} = {i}" for i in range(100))).statements) == 100
    with pytest.raises(FormulaError, match="more than 100 statements") as too_many:
        Formula.parse("; ".join(f"v{i} = {i}" for i in range(101)))
    assert too_many.value.code == "AutoScalingFormulaSyntaxError"
    # reported at the 101st statement: "v0 = 0; " … "v9 = 9; " take 8 characters each, "v10 = 10; " … 10 each,
    # so v100 starts at column 1 + 10 * 8 + 90 * 10 = 981
    assert (too_many.value.position.line, too_many.value.position.col) == (1, 981)


def test_the_evaluator_does_not_change_the_metrics_it_reads():
    metrics = Metrics()
    Formula.parse("x = $PendingTasks.GetSamplePercent(TimeInterval_Minute); y = $ActiveTasks;").evaluate(
        PoolState(), metrics, now=NOW
    )
    assert metrics.histories == {}
