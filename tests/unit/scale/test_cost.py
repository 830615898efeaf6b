"""`sitelens cost`: the arithmetic per component by hand, the classes operations are billed in, the price file
replacing examples, and exit 2 with a reason for input it cannot use."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sitelens.cli import main
from sitelens.cost import Assumptions, CostInputError, PhotoOps, Prices, per_thousand

TRICKLE = Path(__file__).resolve().parents[3] / "benchmarks" / "traces" / "trickle.csv"


def test_each_component_is_operations_times_price_per_thousand_photos() -> None:
    ops = PhotoOps(blob_writes=10, blob_reads=4, blob_lists=0, queue_ops=5, table_ops=20, executions=4,
                   execution_s=2.0, event_grid_ops=2, webhooks=1)  # fmt: skip
    prices = Prices(blob_write_per_10k=0.1, blob_read_per_10k=0.01, queue_per_10k=0.02, table_per_10k=0.001,
                    functions_per_million=0.5, functions_gb_s=0.00002, event_grid_per_million=1.0,
                    blob_gb_month=0.02, egress_per_gb=0.1)  # fmt: skip
    assume = Assumptions(photo_mb=1.0, stored_copies=2.0, retention_months=3.0, instance_gb=2.0, webhook_kb=1024.0)
    parts = per_thousand(ops, prices, assume, node_hours_per_photo=0.002, node_price_per_hour=0.5)
    assert parts["blob transactions"] == pytest.approx(1000 * (10 * 0.1 + 4 * 0.01) / 10_000)
    assert parts["queue transactions"] == pytest.approx(1000 * 5 * 0.02 / 10_000)
    assert parts["table transactions"] == pytest.approx(1000 * 20 * 0.001 / 10_000)
    assert parts["blob capacity"] == pytest.approx(1000 * (2.0 / 1024) * 3 * 0.02)
    assert parts["functions executions"] == pytest.approx(1000 * 4 * 0.5 / 1e6)
    assert parts["functions GB-s"] == pytest.approx(1000 * 2.0 * 2.0 * 0.00002)
    assert parts["event grid"] == pytest.approx(1000 * 2 / 1e6)
    assert parts["webhook egress"] == pytest.approx(1000 * (1 / 1024) * 0.1)  # 1 MiB each
    assert parts["gpu nodes"] == pytest.approx(1000 * 0.002 * 0.5)


def test_operations_are_billed_in_their_class_and_queue_triggers_add_their_dequeues() -> None:
    scenario = {
        "storage": {"blob BlockBlob_StageBlock": 1, "blob BlockBlob_CommitBlockList": 1, "blob Blob_Download": 2,
                    "blob Blob_GetProperties": 1, "blob Blob_Delete": 1, "blob Container_ListBlobFlatSegment": 1,
                    "queue Messages_Enqueue": 2, "queue MessageId_Delete": 2, "table Table_InsertEntity": 3,
                    "table Table_UpdateEntity -> 412": 1},
        "executions": {"request_upload": 1, "on_photo_uploaded": 1, "on_task_completed": 1, "on_notification": 1},
        "execution_ms": {"on_photo_uploaded": 700, "on_task_completed": 300},
    }  # fmt: skip
    ops = PhotoOps.from_scenario(scenario)
    assert (ops.blob_writes, ops.blob_reads, ops.blob_lists) == (2, 3, 1)  # Delete is free
    assert ops.queue_ops == 4 + 2  # and one Get Messages for each queue-triggered run
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
    scenario = {"storage": {"table Table_InsertEntity": 1000.0}, "executions": {}, "execution_ms": {}}
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
        (["--ops", "{ops}", "--scenario", "nope"], "no scenario 'nope'"),
    ],
)
def test_input_it_cannot_use_exits_2_with_the_reason(
    args: list[str], reason: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ops = tmp_path / "ops.json"
    ops.write_text(json.dumps({"scenarios": {}}))
    args = [str(tmp_path / a) if a.startswith("missing") else a.replace("{ops}", str(ops)) for a in args]
    assert main(["cost", "--trace", str(TRICKLE), *args]) == 2
    assert reason in capsys.readouterr().err


def test_a_bad_option_value_exits_2() -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["cost", "--photo-mb", "-1"])
    assert exit_.value.code == 2
