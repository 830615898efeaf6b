"""Azure's sample formulas evaluated on histories built for each branch; real-service outputs reproduced."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from autoscale import Formula, FormulaError, PoolState
from tests.unit.autoscale import samples_appendix_a as A
from tests.unit.autoscale.histories import NOW, run, series

SERVICE_DEFAULTS = "$TargetDedicatedNodes=0;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue"


@pytest.mark.parametrize(
    "text",
    [A.A1, A.A2, *A.A4, A.A5, A.A7, A.A8, A.A9, A.A9_TZ, A.A10, A.A11, A.A12, A.A13, A.B1, *A.A6,
     A.SHIPYARD_2017, A.SHIPYARD_FIXED, A.DOTNET_SDK_TEST],
)  # fmt: skip
def test_every_sample_formula_parses(text):
    assert Formula.parse(text).statements


def test_a3_placeholder_function_is_a_syntax_error_at_its_position():
    with pytest.raises(FormulaError) as e:
        Formula.parse(A.A3)
    assert e.value.code == "AutoScalingFormulaSyntaxError"
    assert e.value.value == "Line 1, Col 18: Unknown function 'function'"  # "$myNewVariable = " is 17 columns


def test_a5b_missing_semicolon_is_a_syntax_error_on_the_next_line():
    with pytest.raises(FormulaError) as e:
        Formula.parse(A.A5B)
    assert e.value.value == "Line 8, Col 1: Expected ';' but found '$NodeDeallocationOption'"


def test_a1_few_samples_use_the_starting_size_enough_average_capped_at_25():
    # 180 s = 6 possible samples; 2 visible → 33.3 % < 70 → startingNumberOfVMs
    few = run(A.A1, PendingTasks=series([40, 40]))
    assert few.results == (
        "$TargetDedicatedNodes=1;$TargetLowPriorityNodes=0;$NodeDeallocationOption=taskcompletion;"
        "maxNumberofVMs=25;pendingTaskSamplePercent=33.3333;pendingTaskSamples=1;startingNumberOfVMs=1"
    )
    # 5 of 6 visible (83.3 %): avg(10, 20, 30, 40, 50) = 30 → min(25, 30) = 25
    assert run(A.A1, PendingTasks=series([10, 20, 30, 40, 50])).applied.dedicated == 25
    assert run(A.A1, PendingTasks=series([4, 5, 6, 7, 8])).applied.dedicated == 6  # avg 6


def test_a2_preempted_nodes_split_between_dedicated_and_low_priority():
    # 5 of 6 samples: min(25, [3, 2, 1, 1, 2]) = 1 dedicated; low priority min(25, 25 - 1) = 24
    r = run(A.A2, PreemptedNodeCount=series([3, 2, 1, 1, 2]))
    assert (r.applied.dedicated, r.applied.low_priority, r.node_deallocation_option) == (1, 24, "taskcompletion")
    # a fresh pool: the unguarded 180 s window read fails, at the "(" of GetSample (column 74 of line 2)
    fresh = run(A.A2, PoolState(target_dedicated=2))
    assert fresh.error.value == (
        "Line 2, Col 74: Insufficient data from data set: $PreemptedNodeCount wanted 70%, received 0%"
    )
    assert fresh.applied is None


def test_a4_window_between_two_look_back_points():
    history = {"RunningTasks": series([1] * 40, newest_ago=0)}
    # from 6 to 1 minutes ago: the samples 60 to 330 s old, the documented 10
    assert run(A.A4[4], history=history).results.endswith("$runningTasksSample=[1,1,1,1,1,1,1,1,1,1]")
    # from 2 to 1 minutes ago: 60 and 90 s old, 2 of 2 possible, 100 % >= 75 %
    assert run(A.A4[5], history=history).results.endswith("$runningTasksSample=[1,1]")


def test_a4_ten_minutes_with_the_last_minute_missing():
    # the documented case: 18 of 20 samples (the newest minute absent) → 95 % fails, 80 % succeeds
    history = {"CPUPercent": [[age, 0.5] for age in range(60, 600, 30)]}
    assert len(history["CPUPercent"]) == 18
    assert run(f"n = len({A.A4[1]})", history=history).results.endswith("n=18")
    assert run(A.A4[2], history=history).error.value.endswith("$CPUPercent wanted 95%, received 90%")
    assert run(A.A4[3], history=history).error is None


def test_a5_cpu_formula_grows_shrinks_or_holds():
    pool = PoolState(target_dedicated=10, current_dedicated=10)
    # an hour of samples (119 of 120 visible windows' worth); each case: 10-minute min, then 60-minute average
    busy = series([0.9] * 119)  # min 0.9 > 0.7 → 10 * 1.1 = 11; avg 0.9 not < 0.2 → keep 11
    assert run(A.A5, pool, CPUPercent=busy).results == (
        "$TargetDedicatedNodes=11;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue;$totalDedicatedNodes=11"
    )
    idle = series([0.1] * 119)  # min 0.1 → 10; avg 0.1 < 0.2 → 10 * 0.9 = 9
    assert run(A.A5, pool, CPUPercent=idle).applied.dedicated == 9
    # busy for the last 10 minutes only: 11 first, but avg (19 * 0.9) / 119 = 0.144 < 0.2 replaces it with 9
    burst = series([0.0] * 100 + [0.9] * 19)
    assert run(A.A5, pool, CPUPercent=burst).applied.dedicated == 9
    # no samples: the unguarded window read fails and the pool keeps 10
    assert run(A.A5, pool).error.code == "InsufficientSampleData"


def test_a6_weekday_one_liner_and_current_nodes():
    tuesday = datetime(2026, 11, 24, tzinfo=UTC)
    assert run(A.A6[0]).applied.dedicated == 5  # NOW is a Monday: weekday 1
    assert run(A.A6[0], now=tuesday).applied.dedicated == 1
    assert run(A.A6[1], PoolState(current_dedicated=7)).applied.dedicated == 7
    assert run(A.A6[2], PoolState(target_dedicated=3)).applied.dedicated == 0


def test_a7_alias_sets_the_full_name():
    r = run(A.A7)  # Monday 10:00: a working weekday hour → 20
    assert r.results == (
        "$TargetDedicatedNodes=20;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue;"
        "$curTime=2026-11-23T10:00:00.000Z;$isWeekday=1;$isWorkingWeekdayHour=1;$workHours=1"
    )
    saturday = datetime(2026, 11, 28, 10, tzinfo=UTC)
    assert run(A.A7, now=saturday).applied.dedicated == 10


def test_a8_documented_result_reproduces():
    # 2016-10-13 was a Thursday (weekday 4), 19:18 is outside working hours → 10
    at = datetime(2016, 10, 13, 19, 18, 47, 805000, tzinfo=UTC)
    # The documented output predates $TargetLowPriorityNodes; modern results carry it second (Appendix B.1).
    assert run(A.A8, now=at).results == (
        "$TargetDedicatedNodes=10;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue;"
        "$curTime=2016-10-13T19:18:47.805Z;$isWeekday=1;$isWorkingWeekdayHour=0;$workHours=0"
    )


def test_a9_time_based_with_time_zone_shift():
    assert run(A.A9).node_deallocation_option == "taskcompletion"
    assert run(A.A9_TZ).results.endswith("$curTime=2026-11-23T04:00:00.000Z")  # 10:00 UTC - 6 h


def test_a10_pending_tasks_branches():
    # 15 min = 30 possible; 29 visible → 96.7 % → max(last 4, avg (28 * 2 + 4) / 29 = 2.07) = 4
    r = run(A.A10, PoolState(target_dedicated=6), PendingTasks=series([2] * 28 + [4]))
    assert "$tasks=4" in r.results and r.applied.dedicated == 4
    # no pending tasks: targetVMs = max(0, 6 / 2) = 3
    r = run(A.A10, PoolState(target_dedicated=6), PendingTasks=series([0] * 29))
    assert "$targetVMs=3" in r.results and r.applied.dedicated == 3
    # few samples: the last alone, max(0, [50]) = 50, capped at 20
    assert run(A.A10, PendingTasks=series([50])).applied.dedicated == 20


def test_a11_parallel_tasks():
    # target 1 → cores 4; tasks 9 (few samples: the last) → extra (9 - 4 + 3) / 4 = 2 → 1 + 2 = 3 → min(3, 3)
    r = run(A.A11, PoolState(target_dedicated=1), ActiveTasks=series([9]))
    assert "$extraVMs=2;" in r.results and r.applied.dedicated == 3
    # tasks 5 → extra (5 - 4 + 3) / 4 = 1 → 2
    assert run(A.A11, PoolState(target_dedicated=1), ActiveTasks=series([5])).applied.dedicated == 2


def test_a12_initial_size_then_zero_when_idle():
    zeros = series([0] * 119)  # lifespan since 2024 > 10 minutes startup; an hour of zero tasks → 0
    assert run(A.A12, RunningTasks=zeros, ActiveTasks=zeros).applied.dedicated == 0
    busy = series([0] * 118 + [3])  # one running sample of 3 → keep $TargetDedicatedNodes, set to 4 above
    assert run(A.A12, RunningTasks=busy, ActiveTasks=zeros).applied.dedicated == 4
    # an empty history fails the 50 % requirement: the pool keeps its target
    r = run(A.A12, PoolState(target_dedicated=2))
    assert r.error.code == "InsufficientSampleData" and r.applied is None


def test_a13_old_names_and_a_lower_case_target_spelling():
    # no samples: GetSamplePercent(0, 10 min) = 0 < 0.7 → 5; `$targetDedicatedNodes` is a user variable
    assert run(A.A13, PoolState(current_dedicated=2)).results == (
        SERVICE_DEFAULTS + ";$targetDedicatedNodes=5;totalNodes=5"
    )
    # 19 of 20 samples at 0.9: 95 % → min 0.9 > 0.8 → $CurrentDedicated * 1.1 = 2.2
    r = run(A.A13, PoolState(current_dedicated=2), CPUPercent=series([0.9] * 19))
    assert r.results.endswith(";$targetDedicatedNodes=2.2;totalNodes=2.2")


def test_b1_real_service_results_string_at_every_sampling_phase():
    # target 1, current 1, a 15-minute window with 29 of its 30 samples visible, all zero
    for phase in range(0, 30, 5):
        zeros = series([0] * 40, newest_ago=phase)  # the newest just taken; only those 30 s old are visible
        r = run(A.B1, PoolState(target_dedicated=1, current_dedicated=1), ActiveTasks=zeros)
        assert r.results == (
            "$TargetDedicatedNodes=1;$TargetLowPriorityNodes=0;$NodeDeallocationOption=taskcompletion;"
            "$samples=96.6667;$targetVMs=0.5;$tasks=0;cappedPoolSize=3"
        ), phase


def test_b3_fresh_pool_insufficient_data_error():
    r = run(A.SHIPYARD_2017, PoolState(target_dedicated=0))
    # line 9 is "samplevecavg = avg($PendingTasks.GetSample(sli));", its GetSample "(" at column 43; the
    # val(...GetSample(1), 0) of line 8 does not fail on the empty history
    assert r.error.as_dict() == {
        "code": "InsufficientSampleData",
        "message": "Autoscale evaluation failed due to insufficient sample data",
        "values": [
            {
                "name": "Message",
                "value": "Line 9, Col 43: Insufficient data from data set: $PendingTasks wanted 70%, received 0%",
            }
        ],
    }
    assert r.results == SERVICE_DEFAULTS and r.applied is None


def test_b3_the_fix_evaluates_on_a_fresh_pool_and_follows_a_busy_one():
    fresh = run(A.SHIPYARD_FIXED)
    assert fresh.error is None and (fresh.applied.dedicated, fresh.applied.low_priority) == (0, 0)
    # 19 of 20 samples of 6 pending: lastsample 6, average 6 → 6 nodes wanted, capped at maxTargetDedicated 4
    busy = run(A.SHIPYARD_FIXED, PendingTasks=series([6] * 19))
    assert (busy.applied.dedicated, busy.applied.low_priority) == (4, 0)
    assert "PendingTaskAvg=6;" in busy.results and "dedicatedVMs=4;" in busy.results


def test_dotnet_sdk_recorded_error_reproduces():
    # a 10-second window holds no possible sample: received 0 %; "$RunningTasks.GetSample" is 23 columns
    r = run(A.DOTNET_SDK_TEST)
    assert r.error.value == "Line 1, Col 24: Insufficient data from data set: $RunningTasks wanted 100%, received 0%"


def test_the_same_formula_and_history_at_the_same_time_give_the_same_run():
    history = {"PendingTasks": series([3, 1, 4, 1, 5, 9, 2, 6])}
    assert run(A.A10, now=NOW, history=history) == run(A.A10, now=NOW, history=history)
