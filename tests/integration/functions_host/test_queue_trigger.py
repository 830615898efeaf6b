"""Queue trigger semantics against Azurite: encoding, retries, visibility, poison, return values."""

from __future__ import annotations

import base64
import contextlib
import itertools
import json

import pytest
from azure.core.exceptions import ResourceExistsError
from azure.storage.queue import QueueClient, QueueServiceClient, TextBase64EncodePolicy

from emulators.functions_host.queue_listener import LEASE_SETTING
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def queues(unique: str) -> dict[str, str]:
    return {"WORK_QUEUE": f"work-{unique}", "OUT_QUEUE": f"out-{unique}", "RETURN_QUEUE": f"ret-{unique}"}


def client(connection: str, name: str, *, base64_encoded: bool = True) -> QueueClient:
    policy = TextBase64EncodePolicy() if base64_encoded else None
    q = QueueClient.from_connection_string(connection, name, message_encode_policy=policy)
    with contextlib.suppress(ResourceExistsError):
        q.create_queue()
    return q


def texts(q: QueueClient, n: int, timeout: float = 30.0) -> list[str]:
    seen: list[str] = []

    def enough() -> bool:
        for m in q.receive_messages(messages_per_page=32, visibility_timeout=60):
            seen.append(m.content)
            q.delete_message(m)
        return len(seen) >= n

    wait_for(enough, timeout, f"{n} messages on {q.queue_name}")
    return seen


def test_base64_message_runs_once_and_writes_its_output(make_host, storage_connection, queues, log_queue):
    # GIVEN a host watching the work queue
    make_host("queues", queues).start()
    # WHEN a base64 message arrives (what the Functions runtime expects)
    client(storage_connection, queues["WORK_QUEUE"]).send_message("hello")
    # THEN the function ran once with the decoded body and its queue output was written base64-encoded
    [record] = log_queue.wait_count(1, fn="flaky")
    assert record["body"] == "hello"
    assert record["dequeue_count"] == 1
    assert record["id"] and record["inserted"]
    [out] = texts(client(storage_connection, queues["OUT_QUEUE"], base64_encoded=False), 1)
    assert base64.b64decode(out).decode() == "HELLO"


def test_failing_message_retries_after_visibility_timeout_then_goes_to_poison(
    make_host, storage_connection, queues, log_queue
):
    make_host("queues", queues).start()
    client(storage_connection, queues["WORK_QUEUE"]).send_message("fail-me")
    # host.json: maxDequeueCount 3, visibilityTimeout 2 s
    attempts = log_queue.wait_count(3, fn="flaky")
    assert [a["dequeue_count"] for a in attempts] == [1, 2, 3]
    gaps = [b["at"] - a["at"] for a, b in itertools.pairwise(attempts)]
    assert all(gap >= 1.9 for gap in gaps), f"retries came before the 2 s visibility timeout: {gaps}"
    [poisoned] = texts(client(storage_connection, f"{queues['WORK_QUEUE']}-poison", base64_encoded=False), 1)
    assert base64.b64decode(poisoned).decode() == "fail-me"  # the body, as it was on the wire
    assert not client(storage_connection, queues["WORK_QUEUE"]).peek_messages()


def test_plain_text_message_is_poisoned_at_once_without_running(make_host, storage_connection, queues, log_queue):
    make_host("queues", queues).start()
    # A producer that forgot TextBase64EncodePolicy: '{...}' is not valid base64.
    client(storage_connection, queues["WORK_QUEUE"], base64_encoded=False).send_message('{"job": 1}')
    [poisoned] = texts(client(storage_connection, f"{queues['WORK_QUEUE']}-poison", base64_encoded=False), 1)
    assert poisoned == '{"job": 1}'
    assert not [r for r in log_queue.read() if r["fn"] == "flaky"]


def test_plain_messages_run_when_host_json_says_encoding_none(make_host, storage_connection, queues, log_queue):
    host_json = {
        "version": "2.0",
        "extensions": {"queues": {"messageEncoding": "none", "maxPollingInterval": "00:00:00.200"}},
    }
    make_host("queues", queues, host_json=host_json).start()
    client(storage_connection, queues["WORK_QUEUE"], base64_encoded=False).send_message('{"job": 1}')
    [record] = log_queue.wait_count(1, fn="flaky")
    assert json.loads(record["body"]) == {"job": 1}


def test_queue_function_that_returns_a_value_fails_as_in_azure(make_host, storage_connection, queues, log_queue):
    host = make_host("queues", queues).start()
    client(storage_connection, queues["RETURN_QUEUE"]).send_message("x")
    assert len(log_queue.wait_count(3, fn="returns_value")) == 3
    [poisoned] = texts(client(storage_connection, f"{queues['RETURN_QUEUE']}-poison", base64_encoded=False), 1)
    assert base64.b64decode(poisoned).decode() == "x"
    assert "without a $return binding returned a non-None value" in host.log_text()


def test_each_invocation_logs_one_line_with_name_id_outcome_and_duration(
    make_host, storage_connection, queues, log_queue
):
    host = make_host("queues", queues).start()
    client(storage_connection, queues["WORK_QUEUE"]).send_message("ok")
    log_queue.wait_count(1, fn="flaky")
    line = wait_for(lambda: [ln for ln in host.log_text().splitlines() if "Executed 'Functions.flaky'" in ln], 10)
    assert len(line) == 1
    assert "(Succeeded, Id=" in line[0] and "Duration=" in line[0]


def test_batch_of_messages_is_processed_concurrently_and_completely(make_host, storage_connection, queues, log_queue):
    make_host("queues", queues).start()
    q = client(storage_connection, queues["WORK_QUEUE"])
    for i in range(12):
        q.send_message(f"m{i}")
    records = log_queue.wait_count(12, fn="flaky")
    assert sorted(r["body"] for r in records) == sorted(f"m{i}" for i in range(12))
    assert len(texts(client(storage_connection, queues["OUT_QUEUE"], base64_encoded=False), 12)) == 12


def test_a_queue_without_a_poison_queue_keeps_a_failed_message_until_its_lease_lapses(
    make_host, storage_connection, queues, log_queue, monkeypatch
):
    # GIVEN a function on a queue whose name ends in -poison (the host keeps no poison queue for it), a
    # visibility timeout of ten minutes and a message lease shortened to 2 s
    monkeypatch.setenv(LEASE_SETTING, "2")
    work = {**queues, "WORK_QUEUE": f"{queues['WORK_QUEUE']}-poison"}
    host_json = {
        "version": "2.0",
        "extensions": {
            "queues": {"maxPollingInterval": "00:00:00.200", "visibilityTimeout": "00:10:00", "maxDequeueCount": 3}
        },
    }
    host = make_host("queues", work, host_json=host_json).start()
    client(storage_connection, work["WORK_QUEUE"]).send_message("fail-me")
    # THEN a failed try is not released after the visibility timeout: it comes back when its lease lapses
    attempts = log_queue.wait_count(3, fn="flaky", timeout=60)
    assert [a["dequeue_count"] for a in attempts] == [1, 2, 3]
    # and past the count it is never run again, nor moved anywhere
    wait_for(
        lambda: f"Queue {work['WORK_QUEUE']} has no poison queue" in host.log_text(), 30, "a dequeue past the count"
    )
    assert len([r for r in log_queue.read() if r["fn"] == "flaky"]) == 3
    names = [q.name for q in QueueServiceClient.from_connection_string(storage_connection).list_queues()]
    assert f"{work['WORK_QUEUE']}-poison" not in names
