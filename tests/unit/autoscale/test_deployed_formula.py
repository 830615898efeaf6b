"""infra/autoscale.formula, the formula Bicep deploys: pending tasks per node's worth, held a while, capped,
a floor in working hours, down to zero; its knobs set by `with_knobs` as Bicep sets them."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoscale import Formula, PoolState, assumptions
from autoscale.knobs import knobs, with_knobs
from tests.unit.autoscale.histories import run, series

TEXT = (Path(__file__).resolve().parents[3] / "infra" / "autoscale.formula").read_text(encoding="utf-8")
FOUR_SLOTS = PoolState(task_slots_per_node=4)
SATURDAY_NOON = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def test_it_passes_check_with_no_findings_and_its_knobs_are_the_documented_ones():
    assert Formula.parse(TEXT).warnings == []
    assert knobs(TEXT) == {"maxNodes": 4, "pendingPerNode": 100, "holdMinutes": 5, "minNodesAtWork": 0,
                           "workStartHour": 7, "workEndHour": 18, "utcOffsetHours": 0}  # fmt: skip


def test_a_new_pool_with_no_samples_stays_at_zero():
    r = run(TEXT, FOUR_SLOTS)
    assert r.error is None and r.applied.dedicated == 0
    assert r.results.startswith(
        "$TargetDedicatedNodes=0;$TargetLowPriorityNodes=0;$NodeDeallocationOption=taskcompletion;"
    )


def test_one_waiting_task_starts_one_node_and_each_further_hundred_another():
    cases = {1: 1, 100: 1, 101: 2, 250: 3, 10_000: 4}  # (p + 99.999) / 100 truncated, capped at 4
    for pending, nodes in cases.items():
        assert run(TEXT, FOUR_SLOTS, PendingTasks=series([pending])).applied.dedicated == nodes, pending


def test_nodes_are_held_while_a_task_was_pending_in_the_hold_window():
    # the latest sample is 0, but 250 tasks were pending 4 minutes ago: still 3 nodes
    held = series([250] + [0] * 7)
    assert run(TEXT, FOUR_SLOTS, PendingTasks=held).applied.dedicated == 3
    # beyond the window (5 minutes and more), the pool empties
    assert run(TEXT, FOUR_SLOTS, PendingTasks=series([250] + [0] * 10)).applied.dedicated == 0
    # a longer hold keeps them
    longer = with_knobs(TEXT, {"holdMinutes": 10})
    assert run(longer, FOUR_SLOTS, PendingTasks=series([250] + [0] * 10)).applied.dedicated == 3


def test_the_working_hours_floor_applies_on_weekdays_in_the_sites_zone_only():
    floor = with_knobs(TEXT, {"minNodesAtWork": 1})
    assert run(floor, FOUR_SLOTS).applied.dedicated == 1  # Monday 10:00 UTC
    assert run(floor, FOUR_SLOTS, now=SATURDAY_NOON).applied.dedicated == 0
    evening = datetime(2026, 11, 23, 19, 0, tzinfo=UTC)  # Monday 19:00 UTC
    assert run(floor, FOUR_SLOTS, now=evening).applied.dedicated == 0
    # in UTC-5, 19:00 UTC is 14:00 at the sites
    west = with_knobs(floor, {"utcOffsetHours": -5})
    assert run(west, FOUR_SLOTS, now=evening).applied.dedicated == 1


@pytest.mark.parametrize("sunday", [0, 7])
def test_sunday_is_no_working_day_whichever_number_batch_gives_it(monkeypatch, sunday):
    monkeypatch.setattr(assumptions, "SUNDAY_WEEKDAY", sunday)  # Monday = 1 is documented; Sunday is not
    floor = with_knobs(TEXT, {"minNodesAtWork": 1})
    assert run(floor, FOUR_SLOTS, now=datetime(2026, 11, 29, 12, 0, tzinfo=UTC)).applied.dedicated == 0


def test_the_cap_holds_and_an_idle_pool_scales_to_zero():
    capped = with_knobs(TEXT, {"maxNodes": 2})
    assert run(capped, FOUR_SLOTS, PendingTasks=series([10_000] * 6)).applied.dedicated == 2
    idle = run(TEXT, PoolState(target_dedicated=4, current_dedicated=4, task_slots_per_node=4),
               PendingTasks=series([0] * 12))  # fmt: skip
    assert (idle.applied.dedicated, idle.applied.low_priority) == (0, 0)
    assert idle.results.startswith("$TargetDedicatedNodes=0;")  # zero as printed, not only as applied
    assert idle.node_deallocation_option == "taskcompletion"  # removed nodes finish their tasks first


@settings(max_examples=150, deadline=None)
@given(
    values=st.lists(st.integers(0, 1000), max_size=14),
    per_node=st.integers(1, 200),
    hold=st.integers(1, 10),
    cap=st.integers(1, 8),
)
def test_matches_ceil_of_the_held_peak_per_node_for_any_history(values, per_node, hold, cap):
    history = series(values)  # ages 30, 60, …: a window of `hold` minutes sees those younger than it
    peak = max([v for (age, v) in history if age < 60 * hold] + values[-1:] + [0])
    formula = with_knobs(TEXT, {"pendingPerNode": per_node, "holdMinutes": hold, "maxNodes": cap})
    r = run(formula, FOUR_SLOTS, PendingTasks=history)
    assert r.error is None
    assert r.applied.dedicated == min(cap, math.ceil(peak / per_node))
    assert r.applied.node_deallocation_option == "taskcompletion"


def test_a_night_shift_wraps_past_midnight_and_equal_hours_keep_the_floor_all_day():
    night = with_knobs(TEXT, {"minNodesAtWork": 1, "workStartHour": 22, "workEndHour": 6})
    at = {hour: datetime(2026, 11, 24, hour, 0, tzinfo=UTC) for hour in (3, 5, 6, 12, 21, 22, 23)}  # a Tuesday
    kept = {hour: run(night, FOUR_SLOTS, now=now).applied.dedicated for hour, now in at.items()}
    assert kept == {3: 1, 5: 1, 6: 0, 12: 0, 21: 0, 22: 1, 23: 1}
    assert run(night, FOUR_SLOTS, now=SATURDAY_NOON.replace(hour=23)).applied.dedicated == 0
    all_day = with_knobs(TEXT, {"minNodesAtWork": 1, "workStartHour": 9, "workEndHour": 9})
    assert run(all_day, FOUR_SLOTS, now=at[3]).applied.dedicated == 1
