"""Properties over generated inputs: printing round-trips, runs are deterministic, targets never negative."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from autoscale import Formula, PoolState
from autoscale.values import format_number
from tests.unit.autoscale.histories import NOW, run, series

finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e300, max_value=1e300)


@given(finite)
def test_a_printed_number_parses_back_to_the_same_printed_number(x):
    printed = format_number(x)
    # a printed number is read back as a literal (its sign as unary minus) and printed again unchanged
    assert run(f"x = {printed};").results.endswith(f";x={printed}")
    assert math.isclose(float(printed), x, rel_tol=1e-5, abs_tol=0)  # six significant digits kept


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    values=st.lists(st.integers(0, 50), max_size=40),
    target=st.integers(0, 10),
)
def test_a_run_depends_only_on_formula_pool_history_time_and_seed(seed, values, target):
    text = (
        "r = rand(); p = $PendingTasks.GetSamplePercent(TimeInterval_Minute * 10);"
        "$TargetDedicatedNodes = p < 50 ? r * 10 : avg($PendingTasks.GetSample(TimeInterval_Minute * 10)) * r;"
    )
    first = run(text, PoolState(target_dedicated=target), seed=seed, PendingTasks=series(values))
    second = run(text, PoolState(target_dedicated=target), seed=seed, PendingTasks=series(values))
    assert first == second


@settings(max_examples=80, deadline=None)
@given(dedicated=finite, low=finite, current=st.integers(0, 100))
def test_applied_targets_are_truncated_toward_zero_and_never_negative(dedicated, low, current):
    r = Formula.parse(f"$TargetDedicatedNodes = {dedicated!r}; $TargetLowPriorityNodes = -1 * {low!r};").evaluate(
        PoolState(target_dedicated=current), now=NOW
    )
    assert r.applied.dedicated == max(0, math.trunc(dedicated))
    assert r.applied.low_priority == max(0, math.trunc(-low))
    assert r.applied.dedicated >= 0 and r.applied.low_priority >= 0
