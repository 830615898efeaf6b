"""The sync agent on a manual clock after an upload failed with a wait the API asked for (`Retry-After`): its
next try is no sooner than that wait, whatever its own back-off would have been."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sitelens.sync_agent import Agent
from sitelens.upload import Outcome
from tests.unit.sync.fakes import JPEG, Clock, Service, make_rig, status

CAPPED = "too_many_reservations: device 'd1' of site 's1' made 3600 new reservations this hour (retry after 1800 s)"


@pytest.fixture
def rig(tmp_path: Path) -> tuple[Agent, Service, Clock, Path]:
    return make_rig(tmp_path)


def test_the_next_try_waits_for_the_hour_the_api_asked_for_past_the_back_off_cap(rig):
    agent, service, clock, folder = rig  # back-off: 2 s doubling, capped at 30 s
    (folder / "a.jpg").write_bytes(JPEG)
    (folder / "b.jpg").write_bytes(JPEG)
    service.script = [Outcome("a", "failed", reason=CAPPED, retry_after=1800.0)]
    agent.step()
    clock.now += 5
    before = datetime.now(UTC)
    agent.step()
    assert service.sent == ["a.jpg"] and agent.backoff_until - clock.now == 1800.0
    doc = status(agent)
    assert doc["state"] == "backing_off" and doc["pending"] == 2
    assert doc["last_error"]["reason"] == "too_many_reservations"
    assert doc["last_error"]["detail"].endswith("(retry after 1800 s)")
    assert datetime.fromisoformat(doc["backoff_until"]) >= before + timedelta(seconds=1800)

    asked_until = agent.backoff_until
    clock.now = asked_until - 0.1  # the agent's own back-off (2 s) is long over: still not a single request
    agent.step()
    assert service.sent == ["a.jpg"] and status(agent)["state"] == "backing_off"
    clock.now = asked_until
    agent.step()
    assert service.sent == ["a.jpg", "a.jpg", "b.jpg"] and status(agent)["state"] == "running"


@pytest.mark.parametrize(("asked", "wait"), [(0.5, 2.0), (None, 2.0), (45.0, 45.0)])
def test_the_wait_is_the_longer_of_the_back_off_and_the_asked_wait(rig, asked, wait):
    agent, service, clock, folder = rig
    (folder / "a.jpg").write_bytes(JPEG)
    service.script = [Outcome("a", "failed", reason="transient: busy", retry_after=asked)]
    agent.step()
    clock.now += 5
    agent.step()
    assert agent.backoff_until - clock.now == wait


def test_a_busy_job_lookup_is_asked_again_no_sooner_than_its_retry_after(rig):
    agent, service, clock, folder = rig
    (folder / "a.jpg").write_bytes(JPEG)
    agent.step()
    clock.now += 5
    agent.step()  # uploaded: now the agent asks after its job
    assert service.sent == ["a.jpg"]
    service.busy = 120.0
    clock.now += 10
    agent.step()
    assert agent.backoff_until - clock.now == 120.0 and status(agent)["state"] == "backing_off"


def test_the_status_api_answering_busy_reaches_the_agent_with_its_wait():
    from sitelens.api_client import ApiClient, ApiError
    from sitelens.sync_agent import LookupRefused
    from sitelens.sync_command import job_lookup

    class Busy(ApiClient):
        def get(self, path: str) -> dict[str, object]:
            raise ApiError(429, {"reason": "too_many_requests"}, 90.0)

    with pytest.raises(LookupRefused) as refused:
        job_lookup(Busy("http://127.0.0.1:9/api", None))("j_1")
    assert refused.value.retry_after == 90.0


def test_an_asked_wait_longer_than_the_apis_longest_counts_as_an_hour(rig):
    agent, service, clock, folder = rig
    (folder / "a.jpg").write_bytes(JPEG)
    service.script = [Outcome("a", "failed", reason="transient: a proxy asks for a day", retry_after=86_400.0)]
    agent.step()
    clock.now += 5
    agent.step()
    assert agent.backoff_until - clock.now == 3600.0
