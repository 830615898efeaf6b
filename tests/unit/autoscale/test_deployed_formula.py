"""infra/autoscale.formula, the formula Bicep deploys: pending tasks per slot, capped, down to zero."""

from __future__ import annotations

import math
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from autoscale import Formula, PoolState
from tests.unit.autoscale.histories import run, series

TEXT = (Path(__file__).resolve().parents[3] / "infra" / "autoscale.formula").read_text(encoding="utf-8")
FOUR_SLOTS = PoolState(task_slots_per_node=4)


def test_it_passes_check_with_no_findings():
    formula = Formula.parse(TEXT)
    assert formula.warnings == []
    assert "maxNodes = 4;" in TEXT  # the cap is a variable


def test_a_new_pool_with_no_samples_stays_at_zero():
    r = run(TEXT, FOUR_SLOTS)
    assert r.error is None and r.applied.dedicated == 0
    # pending = max(0, []) = 0 → the target is 0 (wanted = (0 + 4 - 0.001) / 4 = 0.99975 is not used)
    assert r.results == (
        "$TargetDedicatedNodes=0;$TargetLowPriorityNodes=0;$NodeDeallocationOption=taskcompletion;"
        "maxNodes=4;pending=0;samplePercent=0;wanted=0.99975"
    )


def test_one_waiting_task_starts_one_node():
    # 1 of 10 samples → the latest alone: (1 + 3.999) / 4 = 1.25 → 1
    assert run(TEXT, FOUR_SLOTS, PendingTasks=series([1])).applied.dedicated == 1


def test_nodes_are_pending_tasks_per_slot_rounded_up():
    cases = {
        (4,): 1,  # (4 + 3.999) / 4 = 1.99975 → 1: exactly one full node
        (5,): 2,  # 2.25 → 2
        (9,) * 6: 3,  # 6 of 10 samples (60 %): latest 9 → (9 + 3.999) / 4 = 3.25 → 3
    }
    for values, nodes in cases.items():
        assert run(TEXT, FOUR_SLOTS, PendingTasks=series(list(values))).applied.dedicated == nodes, values


def test_with_enough_samples_the_larger_of_latest_and_average_decides():
    # 8 of 10 samples (80 %): max(latest 2, average (3 * 9 + 5 + 4 * 2) / 8 = 5) = 5 → (5 + 3.999) / 4 = 2.25 → 2
    r = run(TEXT, FOUR_SLOTS, PendingTasks=series([9, 9, 9, 5, 2, 2, 2, 2]))
    assert "pending=5;samplePercent=80" in r.results and r.applied.dedicated == 2
    # a burst: latest 13 over an average of (8 * 2 + 13) / 9 = 3.2 → (13 + 3.999) / 4 = 4.25 → 4
    assert run(TEXT, FOUR_SLOTS, PendingTasks=series([2] * 8 + [13])).applied.dedicated == 4
    # a fractional average rounds up too: 42 / 9 = 4.67 → (4.67 + 3.999) / 4 = 2.17 → 2 = ceil(4.67 / 4)
    assert run(TEXT, FOUR_SLOTS, PendingTasks=series([5] * 6 + [4] * 3)).applied.dedicated == 2


def test_the_cap_holds_and_an_idle_pool_scales_to_zero():
    assert run(TEXT, FOUR_SLOTS, PendingTasks=series([100] * 6)).applied.dedicated == 4
    idle = run(TEXT, PoolState(target_dedicated=4, current_dedicated=4, task_slots_per_node=4),
               PendingTasks=series([0] * 10))  # fmt: skip
    assert (idle.applied.dedicated, idle.applied.low_priority) == (0, 0)
    assert idle.results.startswith("$TargetDedicatedNodes=0;")  # zero as printed, not only as applied
    assert idle.node_deallocation_option == "taskcompletion"  # removed nodes finish their tasks first


@settings(max_examples=150, deadline=None)
@given(
    values=st.lists(st.integers(0, 40), max_size=12),
    slots=st.integers(1, 8),
)
def test_matches_ceil_of_pending_per_slot_for_any_history(values, slots):
    history = series(values)  # ages 30, 60, …: the 5-minute window sees those under 300 s
    in_window = [v for (age, v) in history if age < 300]
    if not values:
        pending = 0.0
    elif len(in_window) / 10 < 0.7:
        pending = float(values[-1])
    else:
        pending = max(values[-1], sum(in_window) / len(in_window))
    r = run(TEXT, PoolState(task_slots_per_node=slots), PendingTasks=history)
    assert r.applied.dedicated == min(4, math.ceil(pending / slots))
    assert r.applied.node_deallocation_option == "taskcompletion"
