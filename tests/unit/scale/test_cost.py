"""`sitelens cost`: the arithmetic per component by hand, the classes operations are billed in, what a scenario
runs on the GPU and stores, Flex Consumption's billed execution time, the price file replacing examples, and
exit 2 with a reason for input it cannot use."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from autoscale import Formula
from autoscale.simulation import Settings, simulate
from autoscale.traces import read_trace
from sitelens.cli import main
from sitelens.cost import DAYS_PER_MONTH, Assumptions, CostInputError, PhotoOps, Prices, per_thousand
from sitelens.cost_command import MEASURED_HAPPY
from sitelens.plan import FORMULA

ROOT = Path(__file__).resolve().parents[3]
TRICKLE = ROOT / "benchmarks" / "traces" / "trickle.csv"
# Scenarios as `python -m benchmarks.ops_per_photo` wrote them (2026-12-06), per photo.
REDELIVERED = {
    "storage": {"blob Blob_GetProperties": 2.0, "table Table_DeleteEntity -> 404": 1.0,
                "table Table_QueryEntitiesWithPartitionAndRowKey": 1.0},
    "batch": {}, "executions": {"on_photo_uploaded": 1.0}, "execution_ms": {"on_photo_uploaded": 46.0},
}  # fmt: skip
REJECTED = {
    "storage": {"blob Blob_Delete": 1.0, "blob Blob_Download": 2.0, "blob Blob_GetProperties": 4.0,
                "blob Blob_StartCopyFromURL": 1.0, "blob BlockBlob_CommitBlockList": 1.0,
                "blob BlockBlob_StageBlock": 1.0, "queue MessageId_Delete": 1.0, "queue Messages_Enqueue": 1.0,
                "table Table_InsertEntity": 7.0, "table Table_UpdateEntity": 6.0},
    "batch": {}, "executions": {"on_notification": 1.0, "on_photo_uploaded": 1.0, "request_upload": 1.0},
    "execution_ms": {"on_notification": 52.5, "on_photo_uploaded": 293.5, "request_upload": 9.0},
}  # fmt: skip
TASK_RETRY_BATCH = {"batch GET /pools/{pool}": 1.0, "batch POST /jobs/{job}/tasks": 1.0}


def cost(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    assert main(["cost", "--trace", str(TRICKLE), "--json", *args]) == 0
    return dict(json.loads(capsys.readouterr().out))


def priced(capsys: pytest.CaptureFixture[str], tmp_path: Path, scenario: dict[str, Any]) -> dict[str, float]:
    ops = tmp_path / "ops.json"
    ops.write_text(json.dumps({"scenarios": {"this": scenario}}))
    return dict(cost(capsys, "--ops", str(ops), "--scenario", "this")["per_1000_photos_usd"])


def test_each_component_is_operations_times_price_per_thousand_photos() -> None:
    ops = PhotoOps(blob_writes=10, blob_reads=4, blob_lists=0, queue_ops=5, table_ops=20, executions=4,
                   execution_s=2.0, event_grid_ops=2, webhooks=1, billed_execution_s=4.5, tasks=2, originals=1,
                   quarantined=0, derived=1)  # fmt: skip
    prices = Prices(blob_write_per_10k=0.1, blob_read_per_10k=0.01, queue_per_10k=0.02, table_per_10k=0.001,
                    functions_per_million=0.5, functions_gb_s=0.00002, event_grid_per_million=1.0,
                    blob_gb_month=0.02, egress_per_gb=0.1)  # fmt: skip
    assume = Assumptions(photo_mb=1.0, originals_days=20, derived_days=5, soft_delete_days=3, results_days=60,
                         instance_gb=2.0, webhook_kb=1024.0)  # fmt: skip
    parts = per_thousand(ops, prices, assume, node_hours_per_photo=0.002, node_price_per_hour=0.5)
    assert parts["blob transactions"] == pytest.approx(1000 * (10 * 0.1 + 4 * 0.01) / 10_000)
    assert parts["queue transactions"] == pytest.approx(1000 * 5 * 0.02 / 10_000)
    assert parts["table transactions"] == pytest.approx(1000 * 20 * 0.001 / 10_000)
    # the original 20 + 3 days, the derived input 5 + 3 days, two tasks' overlays 60 + 3 days each
    months = (23 + 8 + 2 * 63) / DAYS_PER_MONTH
    assert parts["blob capacity"] == pytest.approx(1000 * (1.0 / 1024) * months * 0.02)
    assert parts["functions executions"] == pytest.approx(1000 * 4 * 0.5 / 1e6)
    assert parts["functions GB-s"] == pytest.approx(1000 * 4.5 * 2.0 * 0.00002)  # the billed seconds
    assert parts["event grid"] == pytest.approx(1000 * 2 / 1e6)
    assert parts["webhook egress"] == pytest.approx(1000 * (1 / 1024) * 0.1)  # 1 MiB each
    assert parts["gpu nodes"] == pytest.approx(1000 * 2 * 0.002 * 0.5)  # two tasks


def test_operations_are_billed_in_their_class_and_queue_triggers_add_their_dequeues() -> None:
    scenario = {
        "storage": {"blob BlockBlob_StageBlock": 1, "blob BlockBlob_CommitBlockList": 1, "blob Blob_Download": 2,
                    "blob Blob_GetProperties": 1, "blob Blob_Delete": 1, "blob Container_ListBlobFlatSegment": 1,
                    "queue Messages_Enqueue": 2, "queue MessageId_Delete": 2, "table Table_InsertEntity": 3,
                    "table Table_UpdateEntity -> 412": 1},
        "batch": {},
        "executions": {"request_upload": 1, "on_photo_uploaded": 1, "on_task_completed": 1, "on_notification": 1},
        "execution_ms": {"on_photo_uploaded": 700, "on_task_completed": 300},
    }  # fmt: skip
    ops = PhotoOps.from_scenario(scenario)
    assert (ops.blob_writes, ops.blob_reads, ops.blob_lists) == (2, 3, 1)  # Delete is free
    # and one Get Messages for each queue-triggered run; the blob trigger's queue in Azure puts, gets and deletes
    assert ops.queue_ops == 4 + 2 + 3  # once for the photo's Event Grid delivery
    assert ops.table_ops == 4  # a lost conditional write is billed too
    assert (ops.executions, ops.execution_s, ops.event_grid_ops, ops.webhooks) == (4, 1.0, 2, 1)


def test_a_price_file_replaces_only_the_prices_it_names(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"table_per_10k": 0.5}))
    assert Prices.from_file(path) == Prices(table_per_10k=0.5)
    for bad in ({"table_per_10K": 1}, {"table_per_10k": -1}, {"table_per_10k": "1"}, [1]):
        path.write_text(json.dumps(bad))
        with pytest.raises(CostInputError):
            Prices.from_file(path)


def test_the_command_prints_each_component_and_the_total_is_their_sum(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cost", "--trace", str(TRICKLE), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    parts = report["per_1000_photos_usd"]
    assert set(parts) >= {"table transactions", "functions GB-s", "event grid", "gpu nodes", "webhook egress"}
    assert report["total_usd"] == pytest.approx(sum(parts.values()), abs=1e-3)
    assert report["prices_as_of"] and report["gpu"]["trace_photos"] > 0
    assert main(["cost", "--trace", str(TRICKLE), "--json", "--price-per-hour", "1.052"]) == 0
    doubled = json.loads(capsys.readouterr().out)["per_1000_photos_usd"]["gpu nodes"]
    assert doubled == pytest.approx(2 * parts["gpu nodes"], rel=1e-3)


def test_a_scenario_from_an_operations_file_is_priced(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ops = tmp_path / "ops.json"
    scenario = {"storage": {"table Table_InsertEntity": 1000.0}, "batch": {}, "executions": {}, "execution_ms": {}}
    ops.write_text(json.dumps({"scenarios": {"rejected": scenario}}))
    assert main(["cost", "--trace", str(TRICKLE), "--ops", str(ops), "--scenario", "rejected", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["operations_per_photo"]["table_ops"] == 1000.0
    assert report["per_1000_photos_usd"]["table transactions"] == pytest.approx(1000 * 1000 * 0.00036 / 10_000)


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--prices", "missing.json"], "cannot read prices"),
        (["--ops", "missing.json"], "cannot read operations"),
        (["--trace", "missing.csv"], "missing.csv"),
        (["--ops", "{ops}", "--scenario", "nope"], "no scenario 'nope'; scenarios: happy"),
        (["--ops", "{ops}", "--scenario", "no_batch"], "missing 'batch'"),
        (["--ops", "{ops}", "--scenario", "storage_not_service_operation"], "not 'service operation'"),
        (["--ops", "{ops}", "--scenario", "storage_a_list"], "storage must be a JSON object"),
        (["--ops", "{ops}", "--scenario", "count_a_string"], "must be a number >= 0"),
        (["--ops", "{ops}", "--scenario", "ms_without_runs"], "milliseconds but no executions"),
    ],
)
def test_input_it_cannot_use_exits_2_with_the_reason(
    args: list[str], reason: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ops = tmp_path / "ops.json"
    empty: dict[str, Any] = {"storage": {}, "batch": {}, "executions": {}, "execution_ms": {}}
    ops.write_text(json.dumps({"scenarios": {
        "happy": empty,
        "no_batch": {"storage": {}, "executions": {}, "execution_ms": {}},
        "storage_not_service_operation": {**empty, "storage": {"blob": 1}},
        "storage_a_list": {**empty, "storage": []},
        "count_a_string": {**empty, "storage": {"blob Blob_Download": "3"}},
        "ms_without_runs": {**empty, "execution_ms": {"on_photo_uploaded": 100}},
    }}))  # fmt: skip
    args = [str(tmp_path / a) if a.startswith("missing") else a.replace("{ops}", str(ops)) for a in args]
    assert main(["cost", "--trace", str(TRICKLE), *args]) == 2
    assert reason in capsys.readouterr().err


def test_a_bad_option_value_exits_2() -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["cost", "--photo-mb", "-1"])
    assert exit_.value.code == 2


def test_a_scenario_that_never_reaches_batch_pays_no_gpu_time(capsys, tmp_path):
    redelivered = priced(capsys, tmp_path, REDELIVERED)
    assert redelivered["gpu nodes"] == 0 and redelivered["blob capacity"] == 0  # nothing run, nothing stored
    assert sum(redelivered.values()) < 0.06  # one execution (billed a second) and four requests
    rejected = priced(capsys, tmp_path, REJECTED)
    assert rejected["gpu nodes"] == 0
    happy = cost(capsys)["per_1000_photos_usd"]
    assert happy["gpu nodes"] > 1.0  # the happy path's one task


def test_the_gpu_part_is_charged_per_batch_task_the_scenario_adds(capsys, tmp_path):
    one = priced(capsys, tmp_path, {**MEASURED_HAPPY, "batch": TASK_RETRY_BATCH})  # a Get Pool is no task
    two = priced(capsys, tmp_path, {**MEASURED_HAPPY, "batch": {"batch POST /jobs/{job}/tasks": 2.0}})
    refused = priced(capsys, tmp_path, {**MEASURED_HAPPY, "batch": {"batch POST /jobs/{job}/tasks -> 404": 1.0}})
    assert one["gpu nodes"] == pytest.approx(cost(capsys)["per_1000_photos_usd"]["gpu nodes"])
    assert two["gpu nodes"] == pytest.approx(2 * one["gpu nodes"], rel=1e-3)
    assert refused["gpu nodes"] == 0


def test_each_execution_is_billed_at_least_a_second_then_by_100_ms_of_a_2_gb_instance(capsys, tmp_path):
    price, gb = 0.000026, 2048 / 1024  # the meter: MB-ms / 1,024,000
    happy = cost(capsys)["per_1000_photos_usd"]["functions GB-s"]
    assert happy == pytest.approx(1000 * 4 * 1.0 * gb * price, abs=1e-4)  # four runs, each well under a second
    long = {**REDELIVERED, "executions": {"on_photo_uploaded": 2.0}, "execution_ms": {"on_photo_uploaded": 2500.0}}
    billed = priced(capsys, tmp_path, long)["functions GB-s"]
    assert billed == pytest.approx(1000 * 2 * 1.3 * gb * price, abs=1e-4)  # 1,250 ms each: 1.3 s


def test_what_a_photo_stores_is_kept_as_long_as_the_deployed_lifecycle_rules_keep_it(capsys, tmp_path):
    mb_month = 0.5 / 1024 * 0.0208 * 1000  # 1,000 copies of 0.5 MB for a month
    month = DAYS_PER_MONTH
    # the original 30 days, the derived input 7 days and the overlay 90 days, each then 7 days soft-deleted
    happy = cost(capsys)["per_1000_photos_usd"]["blob capacity"]
    assert happy == pytest.approx(mb_month * ((30 + 7) / month + (7 + 7) / month + (90 + 7) / month), abs=1e-4)
    # a reject: its original deleted at once (soft-deleted 7 days), the quarantine copy 30 days then 7
    rejected = priced(capsys, tmp_path, REJECTED)["blob capacity"]
    assert rejected == pytest.approx(mb_month * (7 + 30 + 7) / month, abs=1e-4)
    prod = cost(capsys, "--soft-delete-days", "14", "--results-days", "30")["per_1000_photos_usd"]["blob capacity"]
    assert prod == pytest.approx(mb_month * ((30 + 14) / month + (7 + 14) / month + (30 + 14) / month), abs=1e-4)


def test_the_gpu_time_is_simulated_with_the_kick_the_deployment_wires(capsys):
    arrivals = read_trace(TRICKLE)
    formula = Formula.parse(FORMULA.read_text(encoding="utf-8"))

    def per_thousand_photos(kick: bool) -> float:
        run = simulate(formula, arrivals, Settings(service_s=4 / 2.04, kick=kick))
        return round(1000 * run.node_seconds / 3600 / len(arrivals), 3)

    assert cost(capsys)["gpu"]["node_hours_per_1000_photos"] == pytest.approx(per_thousand_photos(True), abs=2e-3)
    off = cost(capsys, "--no-kick")["gpu"]["node_hours_per_1000_photos"]
    assert off == pytest.approx(per_thousand_photos(False), abs=2e-3)
    assert per_thousand_photos(True) != pytest.approx(per_thousand_photos(False), abs=0.01)


def test_the_scenarios_docs_name_are_the_ones_the_benchmark_writes():
    benchmark = (ROOT / "benchmarks" / "ops_per_photo.py").read_text(encoding="utf-8")
    written = re.findall(r"^- `(\w+)`:", benchmark, re.MULTILINE)
    docs = (ROOT / "docs" / "scale.md").read_text(encoding="utf-8")
    header = re.search(r"^\| request \(per photo\) \|(.*)\|$", docs, re.MULTILINE)
    assert header and len(written) == 7
    assert sorted(cell.strip().strip("`") for cell in header.group(1).split("|")) == sorted(written)
