"""Sample histories: 30 s samples, the visibility lag, missing samples, windows, percentages, methods."""

from __future__ import annotations

from datetime import timedelta

import pytest

from autoscale import Formula, FormulaError, MetricHistory, Metrics, PoolState
from tests.unit.autoscale.histories import NOW, run, series, user_results

MINUTE = timedelta(minutes=1)


def test_a_sample_becomes_visible_30_seconds_after_it_is_taken():
    history = {"PendingTasks": [[29, 1], [30, 2], [31, 3]]}  # seconds before now
    assert user_results("v = $PendingTasks.GetSample(5);", history=history) == "v=[3,2]"  # oldest first
    lagged = run("v = $PendingTasks.GetSample(5);", lag=timedelta(seconds=31), history=history)
    assert lagged.results.endswith("v=[3]")


def test_a_window_excludes_its_older_bound_and_includes_its_newer_one():
    # window (now - 120 s, now - 60 s]: the sample 120 s old is out, the one 60 s old is in
    history = {"PendingTasks": [[120, 1], [90, 2], [60, 3], [45, 4]]}
    text = "v = $PendingTasks.GetSample(TimeInterval_Minute, 2 * TimeInterval_Minute, 0);"
    assert user_results(text, history=history) == "v=[2,3]"


@pytest.mark.parametrize(
    ("window_s", "ages", "percent"),
    [
        (300, range(30, 300, 30), "90"),  # 9 of the 10 possible: the sample at now - 300 is outside
        (300, range(30, 300, 60), "50"),  # every other sample missing: 5 of 10
        (100, [30, 60, 90], "100"),  # 100 s holds 3 possible samples (rounded down)
        (900, range(30, 900, 30), "96.6667"),  # 29 of 30, Azure's own output for a 15-minute window
        (20, [10], "0"),  # a window shorter than one sample period holds no possible sample
    ],
)
def test_a_windows_percentage_is_visible_samples_over_possible_samples(window_s, ages, percent):
    history = {"PendingTasks": [[age, 1] for age in ages]}
    assert user_results(f"p = $PendingTasks.GetSamplePercent({window_s} * TimeInterval_Second);", history=history) == (
        f"p={percent}"
    )


def test_window_bounds_may_come_in_either_order_and_as_timestamps():
    history = {"PendingTasks": series(list(range(20)))}  # 0..19, the newest (19) 30 s old
    texts = [
        "v = $PendingTasks.GetSample(TimeInterval_Minute, 3 * TimeInterval_Minute);",
        "v = $PendingTasks.GetSample(3 * TimeInterval_Minute, TimeInterval_Minute);",
        "v = $PendingTasks.GetSample(time() + -3 * TimeInterval_Minute, time() + -TimeInterval_Minute);",
    ]
    # ages in [60, 180): 60 s → 18, 90 → 17, 120 → 16, 150 → 15
    assert {user_results(t, history=history) for t in texts} == {"v=[15,16,17,18]"}
    since = "v = $PendingTasks.GetSample(time() + -2 * TimeInterval_Minute);"
    # ages 30 s → 19, 60 → 18, 90 → 17; the sample 120 s old is on the older bound, outside (3 of 4: 75 %)
    assert user_results(since, history=history) == "v=[17,18,19]"


def test_a_percentage_below_the_required_one_fails_the_whole_evaluation():
    history = {"PendingTasks": [[age, 5] for age in range(30, 300, 60)]}  # 5 of 10 in 5 minutes: 50 %
    r = run(
        "$TargetDedicatedNodes = 7;\nx = $PendingTasks.GetSample(TimeInterval_Minute * 5, 60);",
        PoolState(target_dedicated=2),
        history=history,
    )
    assert r.applied is None and r.results.startswith("$TargetDedicatedNodes=2;")
    assert r.error.code == "InsufficientSampleData"
    assert r.error.value == "Line 2, Col 28: Insufficient data from data set: $PendingTasks wanted 60%, received 50%"
    assert run("x = $PendingTasks.GetSample(TimeInterval_Minute * 5, 50);", history=history).error is None
    assert run("x = $PendingTasks.GetSample(TimeInterval_Minute * 5, 0);").error is None  # 0 % never fails


def test_a_window_read_without_a_percentage_requires_70_percent():
    seven = {"PendingTasks": [[age, 1] for age in range(30, 240, 30)]}  # 7 of 10 in 5 minutes
    six = {"PendingTasks": [[age, 1] for age in range(30, 210, 30)]}  # 6 of 10
    assert user_results("n = len($PendingTasks.GetSample(TimeInterval_Minute * 5));", history=seven) == "n=7"
    failed = run("n = len($PendingTasks.GetSample(TimeInterval_Minute * 5));", history=six)
    assert failed.error.value.endswith("$PendingTasks wanted 70%, received 60%")
    between = run("n = $PendingTasks.GetSample(TimeInterval_Minute, TimeInterval_Minute * 6);", history=six)
    # between 1 and 6 minutes ago: the samples 60 to 180 s old, 5 of 10
    assert between.error.value.endswith("wanted 70%, received 50%")


def test_the_received_percentage_is_printed_truncated():
    history = {"CPUPercent": [[age, 0.5] for age in (30, 60)]}  # 2 of 3 = 66.67 %
    r = run("x = $CPUPercent.GetSample(90 * TimeInterval_Second, 66.7);", history=history)
    # reported at the "(" of GetSample: "x = " is 4 columns, "$CPUPercent." 12, "GetSample" 9, so column 26
    assert r.error.value == "Line 1, Col 26: Insufficient data from data set: $CPUPercent wanted 66.7%, received 66%"


def test_get_sample_by_count_takes_the_latest_visible_samples_however_old():
    history = {"ActiveTasks": [[7200, 1], [3600, 2], [10, 3]]}  # the newest is not visible yet
    assert (
        user_results("a = $ActiveTasks.GetSample(1); b = $ActiveTasks.GetSample(5);", history=history)
        == "a=[2];b=[1,2]"
    )
    assert (
        user_results("c = $ActiveTasks.GetSample(0); d = $ActiveTasks.GetSample(-1);", history=history) == "c=[];d=[]"
    )
    assert user_results("e = $RunningTasks.GetSample(1);") == "e=[]"


def test_count_history_begin_time_and_sample_period():
    history = {"RunningTasks": [[150, 1], [120, 1], [60, 1], [0, 1]]}
    text = "n = $RunningTasks.Count(); b = $RunningTasks.HistoryBeginTime(); p = $RunningTasks.GetSamplePeriod();"
    # three samples visible (the one taken just now is not); the oldest 150 s before 10:00:00
    assert user_results(text, history=history) == "b=2026-11-23T09:57:30.000Z;n=3;p=00:00:30"
    assert user_results("n = $FailedTasks.Count();") == "n=0"


def test_every_metric_has_a_history():
    names = ["ActiveTasks", "RunningTasks", "PendingTasks", "SucceededTasks", "FailedTasks", "TaskSlotsPerNode",
             "CurrentDedicatedNodes", "CurrentLowPriorityNodes", "PreemptedNodeCount", "UsableNodeCount",
             "CPUPercent", "WallClockSeconds", "MemoryBytes", "DiskBytes", "DiskReadBytes", "DiskWriteBytes",
             "DiskReadOps", "DiskWriteOps", "NetworkInBytes", "NetworkOutBytes", "SampleNodeCount"]  # fmt: skip
    text = "; ".join(f"v{i} = max(${name}.GetSample(1))" for i, name in enumerate(names))
    samples = {name: [[30 * (i + 1), float(i)]] for i, name in enumerate(names)}
    results = user_results(text, history=samples)
    assert all(f"v{i}={i}" in results.split(";") for i in range(len(names)))


def test_a_history_appended_to_as_time_passes():
    # how the Batch emulator uses it: record every 30 s, evaluate now and then
    formula = Formula.parse(
        "pct = $PendingTasks.GetSamplePercent(TimeInterval_Minute * 5); last = max(0, $PendingTasks.GetSample(1));"
    )
    metrics = Metrics()
    seen = []
    for tick in range(12):  # six minutes of samples, the count rising by one each time
        at = NOW + tick * timedelta(seconds=30)
        metrics.of("$PendingTasks").record(at, tick)
        seen.append(formula.evaluate(PoolState(), metrics, now=at + timedelta(seconds=45)).results.split(";")[3:])
    # at tick t the samples 0..t exist, 45, 75, … s old, all visible; a 5-minute window holds those under 300 s
    assert seen[0] == ["last=0", "pct=10"]  # one sample of ten possible
    assert seen[5] == ["last=5", "pct=60"]  # six samples, 45 to 195 s old
    # nine at most (45 to 285 s old): the newest 30 s of any window are never visible yet
    assert seen[11] == ["last=11", "pct=90"]


def test_record_keeps_time_order_and_drops_samples_past_retention():
    history = MetricHistory(retention=timedelta(hours=1))
    history.record(NOW, 2)
    history.record(NOW - MINUTE, 1)  # late arrival, placed by time
    assert [v for _, v in history.samples] == [1.0, 2.0]
    history.record(NOW + timedelta(minutes=59, seconds=30), 3)  # the 09:59 sample is now over an hour older
    assert [v for _, v in history.samples] == [2.0, 3.0]


def test_naive_times_are_utc():
    metrics = Metrics()
    metrics.of("$PendingTasks").record(NOW.replace(tzinfo=None) - MINUTE, 4)
    r = Formula.parse("v = $PendingTasks.GetSample(1); t = time();").evaluate(
        PoolState(), metrics, now=NOW.replace(tzinfo=None)
    )
    assert r.results.endswith("t=2026-11-23T10:00:00.000Z;v=[4]")


def test_only_metrics_have_histories():
    with pytest.raises(KeyError, match="not a metric"):
        Metrics().of("$PendingTask")
    with pytest.raises(FormulaError, match="Only metrics"):
        Formula.parse("x = $TargetDedicatedNodes.GetSample(1)")
