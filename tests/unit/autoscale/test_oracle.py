"""The oracle is what it claims: exact on hand-worked traces; its schedule serves every photo on arrival; with
one slot per node a real assignment of photos to its nodes exists; and no simulated pool that serves every
photo as fast uses fewer node-seconds."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoscale import Formula
from autoscale.knobs import with_knobs
from autoscale.oracle import OracleSchedule, oracle
from autoscale.simulation import Settings, simulate


@pytest.mark.parametrize(
    ("arrivals", "slots", "seconds"),
    [
        ([0.0], 1, 610.0),  # booted 600 s before, serves 10 s
        ([0.0, 100.0], 1, 710.0),  # a 90 s gap: kept (cheaper than 600 s of another boot)
        ([0.0, 1000.0], 1, 1220.0),  # a 990 s gap: released and booted again
        ([0.0, 610.0], 1, 1220.0),  # a 600 s gap: either way the same
        ([0.0, 5.0], 1, 615.0 + 605.0),  # overlapping: a second node for [5, 10)
        ([0.0, 5.0], 2, 615.0),  # two slots: one node for [0, 15)
        ([0.0, 10.0], 1, 620.0),  # one ends as the next arrives: the same slot
        ([], 1, 0.0),
    ],
)
def test_hand_worked_traces(arrivals, slots, seconds):
    assert oracle(arrivals, service_s=10, boot_s=600, slots=slots).node_seconds == seconds


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="service time"):
        oracle([0.0], service_s=0, boot_s=600, slots=1)


def _ready(schedule: OracleSchedule, t: float, boot_s: float) -> int:
    return sum(1 for level in schedule.billed if any(a + boot_s <= t + 1e-9 and t < r for a, r in level))


arrival_lists = st.lists(st.floats(0, 3600, allow_nan=False).map(lambda x: round(x, 1)), max_size=40)


@settings(max_examples=200, deadline=None)
@given(arrivals=arrival_lists, service=st.sampled_from([1.0, 7.5, 60.0]), boot=st.sampled_from([0.0, 30.0, 600.0]),
       slots=st.integers(1, 4))  # fmt: skip
def test_its_schedule_has_a_ready_slot_for_every_photo_in_service(arrivals, service, boot, slots):
    schedule = oracle(arrivals, service_s=service, boot_s=boot, slots=slots)
    # every instant where the count of photos in service changes, and just before each end
    for t in {*arrivals, *(a + service - 1e-6 for a in arrivals)}:
        in_service = sum(1 for a in arrivals if a <= t < a + service)
        assert _ready(schedule, t, boot) * slots >= in_service
    assert schedule.node_seconds == pytest.approx(sum(r - a for lv in schedule.billed for a, r in lv))


@settings(max_examples=200, deadline=None)
@given(arrivals=arrival_lists, service=st.sampled_from([1.0, 7.5, 60.0]), boot=st.sampled_from([0.0, 30.0, 600.0]))
def test_with_one_slot_its_nodes_run_each_photo_from_arrival_to_end_on_one_node(arrivals, service, boot):
    # Level j's node serves the j-th photo in service. When a photo that is not the top one ends, its node
    # (now idle) takes the top level's label and the top photo's node takes the freed label: labels move, photos
    # never do. Then labels 1..c are always occupied, and each occupied label's node must be billed and ready.
    schedule = oracle(arrivals, service_s=service, boot_s=boot, slots=1)
    label_of: dict[int, int] = {}  # photo → level (1-based)
    at_level: dict[int, int] = {}  # level → photo
    events = sorted([(a + service, 0, i) for i, a in enumerate(arrivals)] + [(a, 1, i) for i, a in enumerate(arrivals)])
    for index, (t, arriving, photo) in enumerate(events):
        if arriving:
            level = len(at_level) + 1
            at_level[level], label_of[photo] = photo, level
        else:
            top, level = len(at_level), label_of.pop(photo)
            moved = at_level.pop(top)
            if moved != photo:
                at_level[level], label_of[moved] = moved, level
        assert set(at_level) == set(range(1, len(at_level) + 1))
        if index + 1 < len(events) and events[index + 1][0] == t:
            continue  # check once all that happens at this instant has happened
        for level in at_level:
            billed = schedule.billed[level - 1]
            assert any(s + boot <= t + 1e-9 and t < r for s, r in billed), (t, level)


TEXT = (Path(__file__).resolve().parents[3] / "infra" / "autoscale.formula").read_text(encoding="utf-8")
FIXED = "$TargetDedicatedNodes = {nodes}; $NodeDeallocationOption = taskcompletion;"


@settings(max_examples=40, deadline=None)
@given(
    arrivals=st.lists(st.floats(0, 7200, allow_nan=False).map(lambda x: round(x, 1)), min_size=1, max_size=60),
    pool=st.tuples(st.integers(1, 4), st.integers(1, 4), st.sampled_from([2.0, 30.0]), st.sampled_from([0.0, 120.0])),
    knobs=st.tuples(st.sampled_from([1, 5]), st.sampled_from([1, 4, 100])),
)
def test_no_simulated_pool_serves_every_photo_as_fast_with_fewer_node_seconds(arrivals, pool, knobs):
    nodes, slots, service, boot = pool
    hold, per_node = knobs
    run_settings = Settings(boot_s=boot, slots=slots, service_s=service, horizon_s=0)
    best = oracle(arrivals, service_s=service, boot_s=boot, slots=slots)
    formulas = [FIXED.format(nodes=nodes), with_knobs(TEXT, {"holdMinutes": hold, "pendingPerNode": per_node})]
    for text in formulas:
        run = simulate(Formula.parse(text), arrivals, run_settings)
        if len(run.time_to_result) == len(arrivals) and max(run.time_to_result) <= service + 1e-9:
            assert run.node_seconds >= best.node_seconds - 1e-6
        # and however fast or slow, none finishes sooner than its service time
        assert min(run.time_to_result, default=service) >= service - 1e-9
