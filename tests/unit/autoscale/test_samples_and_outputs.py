"""Appendix A formulas evaluated on histories built for each branch; Appendix B outputs reproduced."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from autoscale import Formula, FormulaError, Metrics, PoolState
from autoscale.samples import DEFAULT_LAG
from tests.unit.autoscale import samples_appendix_a as A

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # a Monday, 10:00 UTC


def series(values: Sequence[float], *, newest_ago: int = 60) -> list[list[float]]:
    """`values` oldest first, one per 30 s, the newest `newest_ago` seconds before NOW (visible after the 60 s lag)."""
    n = len(values)
    return [[newest_ago + 30 * (n - 1 - i), v] for i, v in enumerate(values)]


def run(
    text: str,
    pool: PoolState | None = None,
    now: datetime = NOW,
    lag: timedelta = DEFAULT_LAG,
    **samples: list[list[float]],
):
    metrics = Metrics.from_offsets(now, {f"${k}": v for k, v in samples.items()}, lag=lag)
    return Formula.parse(text).evaluate(pool or PoolState(), metrics, now=now)


@pytest.mark.parametrize("text", [A.A1, A.A2, A.A5, A.A7, A.A8, A.A9, A.A9_TZ, A.A10, A.A11, A.A12, A.A13, A.B1, *A.A6])
def test_every_official_sample_parses(text):
    assert Formula.parse(text).statements


def test_a3_placeholder_function_is_a_syntax_error_at_its_position():
    with pytest.raises(FormulaError) as e:
        Formula.parse(A.A3)
    assert e.value.code == "AutoScalingFormulaSyntaxError"
    assert e.value.value == "Line 1, Col 18: Unknown function 'function'"


def test_a5b_missing_semicolon_is_a_syntax_error_on_the_next_line():
    with pytest.raises(FormulaError) as e:
        Formula.parse(A.A5B)
    assert e.value.code == "AutoScalingFormulaSyntaxError"
    assert e.value.position is not None and (e.value.position.line, e.value.position.col) == (8, 1)


def test_a1_few_samples_uses_the_starting_size():
    # 180 s window = 6 possible samples; 2 visible → 33 % < 70 → startingNumberOfVMs = 1
    r = run(A.A1, PendingTasks=series([40, 40]))
    assert r.results.startswith(
        "$TargetDedicatedNodes=1;$TargetLowPriorityNodes=0;$NodeDeallocationOption=taskcompletion;"
    )
    assert "pendingTaskSamplePercent=33.3333" in r.results


def test_a1_enough_samples_averages_and_caps_at_25():
    # With the documented 60 s lag a 180 s window shows at most 4 of 6 samples (66.7 % < 70 %), so this
    # official sample averages only when samples arrive faster; here they arrive within 30 s: 5 of 6 (83 %).
    fast = timedelta(seconds=30)
    r = run(A.A1, lag=fast, PendingTasks=series([10, 20, 30, 40, 50], newest_ago=30))
    assert r.applied is not None and r.applied.dedicated == 25  # avg = 30 → min(25, 30)
    assert "pendingTaskSamples=30" in r.results
    assert run(A.A1, lag=fast, PendingTasks=series([4, 5, 6, 7, 8], newest_ago=30)).applied.dedicated == 6
    # the same history under the default lag: 66.7 % → the starting size
    assert run(A.A1, PendingTasks=series([10, 20, 30, 40, 50, 60])).applied.dedicated == 1


def test_a2_preempted_nodes_split_between_dedicated_and_low_priority():
    # min(25, [1, 2, 3]) = 1 dedicated; low priority min(25, 25 - 1) = 24
    r = run(A.A2, PreemptedNodeCount=series([3, 2, 1]))
    assert (r.applied.dedicated, r.applied.low_priority) == (1, 24)
    # no samples: min(25, []) = 25 dedicated, 0 low priority
    r = run(A.A2)
    assert (r.applied.dedicated, r.applied.low_priority) == (25, 0)


def test_a5_cpu_formula_grows_shrinks_or_holds():
    pool = PoolState(current_dedicated=10, target_dedicated=10)
    busy = series([0.9] * 119)  # 60 min of high CPU: min > 0.7 → 10 * 1.1 = 11; avg not < 0.2 → keep 11
    assert run(A.A5, pool, CPUPercent=busy).results.startswith("$TargetDedicatedNodes=11;")
    idle = series([0.1] * 119)  # min not > 0.7 → 10; avg < 0.2 → 10 * 0.9 = 9
    assert run(A.A5, pool, CPUPercent=idle).applied.dedicated == 9
    mixed = series([0.1] * 100 + [0.5] * 19)  # recent min 0.1..0.5 → 10; avg ≈ 0.16 < 0.2 → 9
    assert run(A.A5, pool, CPUPercent=mixed).applied.dedicated == 9


def test_a6_weekday_one_liner_and_current_nodes():
    monday, tuesday = NOW, datetime(2026, 11, 24, tzinfo=UTC)
    assert run(A.A6[0], now=monday).applied.dedicated == 5
    assert run(A.A6[0], now=tuesday).applied.dedicated == 1
    assert run(A.A6[1], PoolState(current_dedicated=7)).applied.dedicated == 7
    assert run(A.A6[2], PoolState(target_dedicated=3)).applied.dedicated == 0


def test_a7_alias_sets_the_full_name():
    r = run(A.A7)  # Monday 10:00 → working hour → 20
    assert r.results.startswith("$TargetDedicatedNodes=20;")
    assert "$TargetDedicated=" not in r.results


def test_a8_documented_result_reproduces():
    at = datetime(2016, 10, 13, 19, 18, 47, 805000, tzinfo=UTC)
    # The documented output predates $TargetLowPriorityNodes; modern results carry it second (Appendix B.1).
    assert run(A.A8, now=at).results == (
        "$TargetDedicatedNodes=10;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue;"
        "$curTime=2016-10-13T19:18:47.805Z;$isWeekday=1;$isWorkingWeekdayHour=0;$workHours=0"
    )


def test_a9_time_zone_shift():
    r = run(A.A9_TZ)
    assert r.results.endswith("$curTime=2026-11-23T04:00:00.000Z")


def test_a10_pending_tasks_branches():
    # 15 min = 30 possible; 29 visible → 96.6667 % → max(last=4, avg(...)) ; values: 28 x 2 then 4 → avg = 60/29
    r = run(A.A10, PoolState(target_dedicated=6), PendingTasks=series([2] * 28 + [4]))
    assert "$tasks=4" in r.results and r.applied.dedicated == 4
    # no pending tasks: targetVMs = max(0, 6 / 2) = 3
    r = run(A.A10, PoolState(target_dedicated=6), PendingTasks=series([0] * 29))
    assert "$targetVMs=3" in r.results and r.applied.dedicated == 3
    # few samples: last sample only, max(0, [50]) = 50 → capped at 20
    r = run(A.A10, PendingTasks=series([50]))
    assert r.applied.dedicated == 20


def test_a11_parallel_tasks():
    # target 1 → cores 4; tasks = 9 (few samples: last) → extra (9 - 4 + 3) / 4 = 2 → target 3 → min(3, 3) = 3
    r = run(A.A11, PoolState(target_dedicated=1), ActiveTasks=series([9]))
    assert "$extraVMs=2;" in r.results and r.applied.dedicated == 3
    # tasks 5 → extra (5 - 4 + 3) / 4 = 1 → 2
    assert run(A.A11, PoolState(target_dedicated=1), ActiveTasks=series([5])).applied.dedicated == 2


def test_a12_initial_size_then_zero_when_idle():
    # lifespan (since 2024) > startup, and an hour of zero samples → 0
    zeros = series([0] * 119)
    assert run(A.A12, RunningTasks=zeros, ActiveTasks=zeros).applied.dedicated == 0
    busy = series([0] * 118 + [3])
    assert run(A.A12, RunningTasks=busy, ActiveTasks=zeros).applied.dedicated == 4
    # an empty history fails the 50 % requirement: the pool keeps its target
    r = run(A.A12, PoolState(target_dedicated=2))
    assert r.error is not None and r.error.code == "InsufficientSampleData" and r.applied is None


def test_a13_old_names_and_lower_case_target_spelling():
    # GetSamplePercent(0 min, 10 min) with no samples = 0 < 0.7 → 5; `$targetDedicatedNodes` is a user variable
    r = run(A.A13, PoolState(current_dedicated=2))
    assert r.results == (
        "$TargetDedicatedNodes=0;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue;"
        "$targetDedicatedNodes=5;totalNodes=5"
    )


def test_b1_real_service_results_string():
    # B.1: target 1, current 1, 29 of the 30 samples of the 15-minute window visible, all zero. With the
    # default 60 s lag only 28 would be; that pool's samples arrived within 30 s of its evaluation.
    r = run(
        A.B1,
        PoolState(target_dedicated=1, current_dedicated=1),
        lag=timedelta(seconds=30),
        ActiveTasks=series([0] * 29, newest_ago=30),
    )
    assert r.results == (
        "$TargetDedicatedNodes=1;$TargetLowPriorityNodes=0;$NodeDeallocationOption=taskcompletion;"
        "$samples=96.6667;$targetVMs=0.5;$tasks=0;cappedPoolSize=3"
    )


def test_b3_insufficient_data_error_shape():
    text = "\n" * 8 + "pending = max($PendingTasks.GetSample(TimeInterval_Minute * 15, 70));"
    r = run(text)
    assert r.error is not None
    assert r.error.as_dict() == {
        "code": "InsufficientSampleData",
        "message": "Autoscale evaluation failed due to insufficient sample data",
        "values": [
            {
                "name": "Message",
                "value": "Line 9, Col 15: Insufficient data from data set: $PendingTasks wanted 70%, received 0%",
            }
        ],
    }
    assert r.results == "$TargetDedicatedNodes=0;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue"


def test_a4_window_between_two_look_back_points():
    # GetSample(1 min, 6 min): the window from 6 minutes ago to 1 minute ago holds 10 samples (documented output)
    text = "$runningTasksSample = $RunningTasks.GetSample(1 * TimeInterval_Minute, 6 * TimeInterval_Minute);"
    r = run(text, RunningTasks=series([1] * 40, newest_ago=0))
    assert r.results.endswith("$runningTasksSample=[1,1,1,1,1,1,1,1,1,1]")
    # with a percentage: 60 s to 120 s ago holds 2 of 2 possible samples, 100 % >= 75 %
    text = "$runningTasksSample = $RunningTasks.GetSample(60 * TimeInterval_Second, 120 * TimeInterval_Second, 75);"
    assert run(text, RunningTasks=series([1] * 10, newest_ago=0)).results.endswith("=[1,1]")


def test_docs_sampling_example_18_of_20():
    # 10 minutes, last minute not yet visible: 18 samples; 95 % fails, 80 % succeeds
    history = series([0.5] * 20, newest_ago=0)
    assert "x=[" in run("x = $CPUPercent.GetSample(TimeInterval_Minute * 10)", CPUPercent=history).results
    assert run("x = len($CPUPercent.GetSample(TimeInterval_Minute * 10))", CPUPercent=history).results.endswith("x=18")
    assert run("x = $CPUPercent.GetSample(TimeInterval_Minute * 10, 95)", CPUPercent=history).error is not None
    assert run("x = $CPUPercent.GetSample(TimeInterval_Minute * 10, 80)", CPUPercent=history).error is None


def test_the_deployed_formula_scales_to_zero_and_rounds_up():
    text = (Path(__file__).resolve().parents[3] / "infra" / "autoscale.formula").read_text()
    pool = PoolState(task_slots_per_node=4)
    assert run(text, pool).applied.dedicated == 0  # a new pool with no samples: zero nodes
    assert run(text, pool, PendingTasks=series([1])).applied.dedicated == 1  # one task starts a node
    assert run(text, pool, PendingTasks=series([9] * 6)).applied.dedicated == 3  # ceil(9 / 4), latest sample
    # 8 of 10 samples in 5 minutes (80 %): max(latest 2, average 40 / 8 = 5) = 5 → (5 + 4 - 1) / 4 = 2 nodes
    assert run(text, pool, PendingTasks=series([9, 9, 9, 5, 2, 2, 2, 2])).applied.dedicated == 2
    assert run(text, pool, PendingTasks=series([100] * 6)).applied.dedicated == 4  # the cap
    assert run(text, pool, PendingTasks=series([0] * 6)).applied.node_deallocation_option == "taskcompletion"
