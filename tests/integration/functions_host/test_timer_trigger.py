"""Timer trigger semantics: schedule firing, run_on_startup, past_due after a missed occurrence."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from azure.storage.blob import BlobServiceClient

from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration


def test_schedule_fires_repeatedly_and_run_on_startup_fires_once(make_host, log_queue):
    make_host("timers").start()
    ticks = log_queue.wait_count(3, fn="every_second")
    times = [t["at"] for t in ticks]
    assert times == sorted(times)
    # Not a burst: each next tick is due at the first whole second after the previous one ran, so three ticks
    # span more than a second however late any one of them ran (one gap alone may be short after a late tick).
    assert times[2] - times[0] > 1.0
    [startup] = log_queue.wait_count(1, fn="yearly_on_startup")
    assert startup["past_due"] is False
    assert not [r for r in log_queue.read() if r["fn"] == "yearly_monitored"]


def test_missed_occurrence_runs_at_start_with_past_due(make_host, storage_connection, log_queue, unique):
    host = make_host("timers")
    # GIVEN the schedule monitor recorded a next occurrence that passed while no host ran
    host_id = f"timers-{unique}"
    status = {"Last": "", "Next": (datetime.now(UTC) - timedelta(minutes=5)).isoformat(), "LastUpdated": ""}
    hosts = BlobServiceClient.from_connection_string(storage_connection).get_container_client("azure-webjobs-hosts")
    if not hosts.exists():
        hosts.create_container()
    blob = f"timers/{host_id}/Host.Functions.yearly_monitored/status"
    hosts.upload_blob(blob, json.dumps(status), overwrite=True)
    # WHEN the host starts
    host.start()
    # THEN the function runs once at once, past due, and the status now points to the future
    [record] = log_queue.wait_count(1, fn="yearly_monitored")
    assert record["past_due"] is True

    def next_in_future() -> bool:
        status = json.loads(hosts.download_blob(blob).readall())
        return datetime.fromisoformat(status["Next"]) > datetime.now(UTC)

    wait_for(next_in_future, 10, "the schedule status to move past now")
