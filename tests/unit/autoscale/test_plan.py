"""`sitelens plan`: the paper arithmetic, the synthetic day, the choice among simulated candidates, the monthly
cost, and exit codes (2 with a reason for invalid options, 1 when no candidate meets the target)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from autoscale.simulation import Settings
from sitelens.cli import main
from sitelens.plan import VM_SIZES, Load, paper_nodes, plan, synthetic_day

T4 = VM_SIZES["standard_nc4as_t4_v3"]
SETTINGS = Settings(slots=4, service_s=4 / 2.04)


@pytest.mark.parametrize(
    ("burst", "minutes", "per_node_s", "nodes"),
    [(600, 10, 2.04, 1), (36_000, 120, 2.04, 3), (600, 10, 0.5, 2), (6000, 10, 0.5, 20), (1, 10, 2.04, 1)],
)
def test_paper_nodes_keep_up_with_one_burst(burst, minutes, per_node_s, nodes):
    assert paper_nodes(Load(photos_per_day=burst, burst_size=burst, burst_minutes=minutes), per_node_s) == nodes


def test_paper_nodes_keep_up_with_the_days_average_when_small_bursts_add_up():
    # 100 photos in 10 minutes is 0.17 photos/s (one node at 0.2), but 20,000 over 11 hours is 0.51 (three)
    assert paper_nodes(Load(photos_per_day=20_000, burst_size=100, burst_minutes=10), 0.2) == 3


def test_overlapping_bursts_widen_the_search_until_a_cap_meets_the_target():
    load = Load(photos_per_day=20_000, burst_size=100, burst_minutes=10)
    slow = Settings(slots=4, service_s=4 / 0.2)
    found = plan(load, target_p95_s=900, vm=T4, price_per_hour=0.5, settings=slow, photos_per_node_s=0.2)
    assert found.meets_target and found.result["time_to_result_s"]["p95"] <= 900
    assert found.knobs["maxNodes"] >= 3 and found.result["photos_finished"] == 20_000


def test_a_load_without_a_whole_photo_is_refused():
    with pytest.raises(ValueError, match="at least one photo"):
        Load(photos_per_day=100, burst_size=0, burst_minutes=10)


def test_the_synthetic_day_has_the_load_in_working_hours_and_is_seeded():
    load = Load(photos_per_day=1000, burst_size=150, burst_minutes=5, work_start_hour=8, work_end_hour=12)
    day = synthetic_day(load)
    assert len(day) == 1000 and day == sorted(day) and day == synthetic_day(load)
    assert day[0] >= 8 * 3600 and day[-1] <= 12 * 3600


def test_the_plan_is_the_cheapest_candidate_meeting_the_target_and_costs_what_it_says():
    load = Load(photos_per_day=600, burst_size=100, burst_minutes=10, workdays_per_month=20)
    lax = plan(load, target_p95_s=1200, vm=T4, price_per_hour=0.5, settings=SETTINGS, photos_per_node_s=2.04)
    strict = plan(load, target_p95_s=60, vm=T4, price_per_hour=0.5, settings=SETTINGS, photos_per_node_s=2.04)
    assert lax.meets_target and strict.meets_target
    assert lax.result["time_to_result_s"]["p95"] <= 1200 and strict.result["time_to_result_s"]["p95"] <= 60
    # only a node kept through working hours answers within a minute; it costs the 11 working hours
    assert strict.knobs["minNodesAtWork"] == 1 and strict.node_hours_per_day == pytest.approx(11.0, abs=0.01)
    assert lax.knobs["minNodesAtWork"] == 0 and lax.node_hours_per_day < strict.node_hours_per_day
    assert strict.monthly_cost == pytest.approx(11.0 * 20 * 0.5)


def plan_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["plan", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_and_a_price_override(capsys):
    code, out, _ = plan_cli(capsys, "--photos-per-day", "600", "--p95", "1200", "--json", "--price-per-hour", "2")
    report = json.loads(out)
    assert code == 0 and report["meets_target"] and report["price_per_hour"] == 2 and report["kick"]
    assert report["vm_size"] == "Standard_NC4as_T4_v3" and report["task_slots_per_node"] == 4
    assert report["monthly_cost"] == pytest.approx(report["node_hours_per_day"] * 22 * 2, rel=0.01)
    assert set(report["knobs"]) >= {"maxNodes", "pendingPerNode", "minNodesAtWork"}


def test_the_plan_simulates_the_kick_the_deployment_wires_unless_told_not_to(capsys):
    load = ("--photos-per-day", "600", "--p95", "1200", "--json")
    default, kicked, unkicked = (
        json.loads(plan_cli(capsys, *load, *flag)[1]) for flag in ((), ("--kick",), ("--no-kick",))
    )
    assert default == kicked and default["kick"] and not unkicked["kick"]
    assert default["p95_s"] < unkicked["p95_s"]  # the first photo of a burst no longer waits for the schedule


def test_an_unreachable_target_exits_1_and_shows_the_fastest(capsys):
    code, out, _ = plan_cli(capsys, "--photos-per-day", "600", "--p95", "1")  # a task alone takes ~2 s
    assert code == 1 and "CANNOT meet" in out


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        (["--photos-per-day", "-5", "--p95", "600"], "must be a positive number"),
        (["--photos-per-day", "0.5", "--burst-size", "0.5", "--p95", "600"], "must be a whole number of photos"),
        (["--photos-per-day", "100.5", "--p95", "600"], "must be a whole number of photos"),
        (["--photos-per-day", "100", "--burst-size", "0", "--p95", "600"], "must be a positive number"),
        (["--photos-per-day", "100", "--p95", "x"], "not a number"),
        (["--photos-per-day", "100", "--p95", "600", "--work-hours", "18-7"], "working hours are START-END"),
        (["--photos-per-day", "100", "--p95", "600", "--vm-size", "Standard_D2s_v5"], "unknown size"),
        (["--p95", "600"], "required"),
    ],
)
def test_invalid_options_exit_2_with_the_reason(capsys, options, reason):
    with pytest.raises(SystemExit) as exited:
        main(["plan", *options])
    assert exited.value.code == 2 and reason in capsys.readouterr().err


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        (["--photos-per-day", "100", "--burst-size", "200"], "--burst-size cannot exceed --photos-per-day"),
        (["--photos-per-day", "100", "--interval", "120"], "--interval must be at least 300"),
        (["--photos-per-day", "100", "--work-hours", "9-10", "--burst-minutes", "90"], "longer than the working"),
    ],
)
def test_inconsistent_options_exit_2_with_the_reason(capsys, options, reason):
    code, out, err = plan_cli(capsys, "--p95", "600", *options)
    assert (code, out) == (2, "") and reason in err


def test_a_fractional_burst_is_refused_at_once_not_planned_forever():
    # Once truncated to a burst of 0 photos the synthetic day never filled: a real process, with a deadline.
    options = ["--photos-per-day", "100", "--burst-size", "0.5", "--p95", "900"]
    done = subprocess.run([sys.executable, "-m", "sitelens", "plan", *options], check=False, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert done.returncode == 2 and "--burst-size: 0.5 must be a whole number of photos" in done.stderr
