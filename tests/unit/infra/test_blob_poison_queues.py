"""The blob trigger's poison queues in the infrastructure: the operator's queue exists, and the poison alert
counts it but not `webjobs-blobtrigger-poison`, whose messages `on_photo_poisoned` tries again itself."""

from __future__ import annotations

from shared.jobs.poisoned_photos import OPERATOR_QUEUE, POISON_QUEUE
from tests.unit.infra import bicep
from tests.unit.infra.test_monitoring import query
from tests.unit.infra.test_storage import _loop_names


def test_both_blob_trigger_poison_queues_are_deployed() -> None:
    assert {POISON_QUEUE, OPERATOR_QUEUE} <= set(_loop_names("queues"))


def test_the_poison_alert_leaves_out_the_queue_the_app_reads_and_counts_the_operators() -> None:
    text = query("poisonQuery")
    assert '| where Uri has "-poison/messages"' in text  # webjobs-blobtrigger-poison-poison included
    assert f'| where Queue != "{POISON_QUEUE}"' in text
    assert text.index("extend Queue") < text.index("where Queue !=") < text.index("summarize Messages")
    assert bicep.resource(bicep.module("alerts"), "poisonAlert")["properties"]["criteria"]["allOf"][0][
        "dimensions"
    ] == [{"name": "Queue", "operator": "Include", "values": ["*"]}]
