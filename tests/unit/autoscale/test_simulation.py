"""The simulator's timing rules against hand-worked runs: samples, lag, the interval, boot, slots, truncation,
the deallocation options, the kick, and node time billed from allocation to release."""

from __future__ import annotations

import pytest

from autoscale import Formula
from autoscale.simulation import Settings, simulate

ONE_WHILE_PENDING = """
pending = max(0, $PendingTasks.GetSample(1));
$TargetDedicatedNodes = pending > 0 ? 1 : 0;
$NodeDeallocationOption = taskcompletion;
"""
HAND = Settings(interval_s=300, boot_s=600, slots=1, service_s=10, lag_s=30)


def test_one_photo_waits_for_the_next_evaluation_and_the_boot_and_is_billed_until_the_node_goes():
    # The photo arrives at 100; the sample taken at 120 is visible from 150; the evaluation at 300 allocates a
    # node, ready at 900; the task runs 900-910. At 1200 the latest visible sample (1170) is 0: released.
    run = simulate(Formula.parse(ONE_WHILE_PENDING), [100.0], HAND)
    assert run.time_to_result == [810.0]
    assert run.node_seconds == 900.0  # 300 → 1200
    assert run.idle_node_seconds == 290.0  # 910 → 1200
    assert run.peak_nodes == 1 and run.failed_evaluations == 0


def test_a_photo_late_in_the_day_is_billed_until_the_pool_is_back_at_zero_like_any_other():
    # At 86200 (200 s before the day ends) as at 100: allocated at the next evaluation (86400), ready at
    # 87000, done at 87010, released by the evaluation at 87300 that sees nothing pending.
    early, late = (simulate(Formula.parse(ONE_WHILE_PENDING), [t], HAND) for t in (100.0, 86200.0))
    assert late.time_to_result == early.time_to_result == [810.0]
    assert late.node_seconds == early.node_seconds == 900.0
    assert late.idle_node_seconds == early.idle_node_seconds == 290.0


def test_a_pool_that_never_empties_is_billed_for_the_day_only():
    always = Formula.parse("$TargetDedicatedNodes = 1; $NodeDeallocationOption = taskcompletion;")
    run = simulate(always, [100.0], HAND)
    assert run.time_to_result == [510.0]  # the node allocated at 0 is ready at 600
    assert run.node_seconds == 86400.0


def test_a_photo_seen_only_after_the_lag_waits_one_more_interval():
    # Arrives at 280: its first sample (300) is visible at 330, after the evaluation at 300; the one at 600
    # sees it, the node is ready at 1200.
    run = simulate(Formula.parse(ONE_WHILE_PENDING), [280.0], HAND)
    assert run.time_to_result == [1200.0 + 10 - 280]


KICKED = Settings(**{**HAND.__dict__, "kick": True})


def test_the_kick_polls_until_the_formula_sees_the_photo_then_evaluates_and_restarts_the_schedule():
    # The photo at 100 claims a kick; Evaluate at 100, 101, 103, 107, 115, 125, 135, 145 sees nothing (the
    # sample taken at 120 is visible from 150); at 155 it gives 1: enable, evaluate, a node at 155, ready at
    # 755, the photo done at 765. The schedule restarted at 155: 455 and 755 keep the node (samples 450 and
    # 750 hold the task), 1055 sees the sample at 1050 with nothing pending and releases it.
    run = simulate(Formula.parse(ONE_WHILE_PENDING), [100.0], KICKED)
    assert run.time_to_result == [665.0]
    assert run.kicks == 1
    assert run.node_seconds == 900.0  # 155 → 1055


def test_photos_during_a_kick_claim_none_of_their_own():
    run = simulate(Formula.parse(ONE_WHILE_PENDING), [100.0, 110.0, 125.0], KICKED)
    assert run.kicks == 1
    assert run.time_to_result == [665.0, 665.0, 660.0]  # one slot: 755-765, 765-775, 775-785


def test_a_kick_gives_up_after_90_seconds_and_the_schedule_finds_the_photo():
    # With a 120 s lag the sample taken at 120 is visible only at 240, after the last poll (185): no kick;
    # the evaluation at 300 allocates the node, ready at 900.
    run = simulate(Formula.parse(ONE_WHILE_PENDING), [100.0], Settings(**{**KICKED.__dict__, "lag_s": 120.0}))
    assert run.kicks == 0
    assert run.time_to_result == [810.0]


def test_targets_are_truncated_and_slots_fill_before_a_task_waits():
    formula = Formula.parse("$TargetDedicatedNodes = 1.9; $NodeDeallocationOption = taskcompletion;")
    settings = Settings(interval_s=300, boot_s=0, slots=2, service_s=100)
    run = simulate(formula, [10.0, 10.0, 10.0], settings)
    assert run.peak_nodes == 1  # 1.9 → 1
    assert sorted(run.time_to_result) == [100.0, 100.0, 200.0]  # two slots, the third waits for one


SHRINK_AT_300 = """
$TargetDedicatedNodes = (time() - time("2026-01-05T00:00:00Z")) == TimeInterval_Minute * 5 ? 0 : 1;
$NodeDeallocationOption = {option};
"""


@pytest.mark.parametrize(
    ("option", "times", "failed"),
    [
        ("taskcompletion", [400.0], 0),  # the node leaves only when its task ends
        ("retaineddata", [400.0], 0),
        ("requeue", [1000.0], 0),  # killed at 300, back in the queue, rerun on the node allocated at 600
        ("terminate", [], 1),  # killed at 300 and failed
    ],
)
def test_the_deallocation_option_decides_what_happens_to_a_running_task(option, times, failed):
    formula = Formula.parse(SHRINK_AT_300.format(option=option))
    run = simulate(formula, [0.0], Settings(interval_s=300, boot_s=0, slots=1, service_s=400))
    assert run.time_to_result == times
    assert run.failed_photos == failed


def test_taskcompletion_bills_the_leaving_node_until_its_task_ends():
    # the target is 1 at the first evaluation only: the node allocated at 0 leaves at 300, released at 400
    formula = Formula.parse(
        '$TargetDedicatedNodes = time() == time("2026-01-05T00:00:00Z") ? 1 : 0;\n'
        "$NodeDeallocationOption = taskcompletion;"
    )
    run = simulate(formula, [0.0], Settings(interval_s=300, boot_s=0, slots=1, service_s=400))
    assert run.time_to_result == [400.0]
    assert run.node_seconds == 400.0


def test_a_failed_evaluation_leaves_the_target_as_it_was():
    # two hours of samples, never there: every evaluation fails
    formula = Formula.parse("$TargetDedicatedNodes = $PendingTasks.GetSample(TimeInterval_Hour * 2);")
    run = simulate(formula, [], Settings())
    assert run.failed_evaluations == run.evaluations > 0
    assert run.peak_nodes == 0 and run.node_seconds == 0


def test_an_interval_below_azures_minimum_is_refused():
    with pytest.raises(ValueError, match="at least 300"):
        simulate(Formula.parse("$TargetDedicatedNodes = 0;"), [], Settings(interval_s=299))
