"""docs/scale.md's storage account ceiling follows from the measured happy path and what Azure adds to it: the
queue triggers' Get Messages and the blob trigger's queue, which the local measurement counts apart; and what it
says of the queue triggers' idle polling is host.json's setting."""

from __future__ import annotations

import json
from pathlib import Path

from sitelens.cost import QUEUE_TRIGGERED, TRIGGER_QUEUE_OPS_PER_DELIVERY
from sitelens.cost_command import MEASURED_HAPPY

ROOT = Path(__file__).resolve().parents[3]
ACCOUNT_REQUESTS_PER_S = 20_000


def scale_doc() -> str:
    return (ROOT / "docs" / "scale.md").read_text(encoding="utf-8")


def test_the_storage_account_row_counts_the_blob_trigger_queue() -> None:
    runs = MEASURED_HAPPY["executions"]
    measured = sum(MEASURED_HAPPY["storage"].values())
    get_messages = sum(n for name, n in runs.items() if name in QUEUE_TRIGGERED)
    trigger_queue = TRIGGER_QUEUE_OPS_PER_DELIVERY * runs["on_photo_uploaded"]
    per_photo = measured + get_messages + trigger_queue
    assert (measured, get_messages, trigger_queue) == (48, 2, 3)
    [row] = [line for line in scale_doc().splitlines() if line.startswith("| Storage account, 20,000 requests/s |")]
    counted = f"{measured} + {get_messages} Get Messages + {trigger_queue} on the blob trigger's queue = {per_photo}"
    assert counted in row
    assert f"**{ACCOUNT_REQUESTS_PER_S // per_photo}**" in row


def test_the_idle_polling_the_doc_describes_is_host_jsons() -> None:
    polling = json.loads((ROOT / "host.json").read_text(encoding="utf-8"))["extensions"]["queues"]
    doc = " ".join(scale_doc().split())  # its lines joined
    assert f"`extensions.queues.maxPollingInterval` ({polling['maxPollingInterval']}) holds in Azure" in doc
    assert "backing off to one poll a minute when idle" not in doc  # what it said of every queue trigger before
