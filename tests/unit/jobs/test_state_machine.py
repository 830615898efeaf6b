import re
from datetime import UTC, datetime, timedelta

import pytest

from shared.errors import InvalidInput
from shared.jobs import ids, routing
from shared.jobs.models import Job, JobState, TerminalStateError, TransitionError

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def job(**changes) -> Job:
    base = Job("j_" + "a" * 26, "site1", "dev1", "p1", "site1/dev1/2026/11/22/p1.jpg", '"0x1"', T0)
    return Job(**{**vars(base), **changes})


def test_the_happy_path_stamps_each_time_once():
    queued = job().advance(JobState.QUEUED, T0 + timedelta(seconds=1))
    running = queued.advance(JobState.RUNNING, T0 + timedelta(seconds=5))
    done = running.advance(JobState.SUCCEEDED, T0 + timedelta(seconds=9), summary={"lines": 2})
    assert (done.queued_at, done.started_at, done.finished_at) == (
        T0 + timedelta(seconds=1), T0 + timedelta(seconds=5), T0 + timedelta(seconds=9),
    )  # fmt: skip
    assert done.latency_ms == 9000 and done.summary == {"lines": 2} and done.terminal


@pytest.mark.parametrize("state", [JobState.SUCCEEDED, JobState.FAILED, JobState.REJECTED])
def test_terminal_states_never_change(state):
    terminal = job(state=state)
    for target in JobState:
        with pytest.raises(TerminalStateError):
            terminal.advance(target, T0)


@pytest.mark.parametrize(
    ("start", "target"),
    [(JobState.QUEUED, JobState.REJECTED), (JobState.RUNNING, JobState.QUEUED), (JobState.RUNNING, JobState.REJECTED),
     (JobState.QUEUED, JobState.RECEIVED), (JobState.RECEIVED, JobState.RUNNING)],
)  # fmt: skip
def test_moves_the_machine_does_not_allow_are_refused(start, target):
    with pytest.raises(TransitionError):
        job(state=start).advance(target, T0)


def test_job_ids_are_deterministic_batch_safe_and_depend_on_the_name_alone():
    a = ids.job_id_for("s/d/2026/11/22/p.jpg")
    assert a == ids.job_id_for("s/d/2026/11/22/p.jpg")  # known before the upload, whatever version lands
    assert a != ids.job_id_for("s/d/2026/11/22/q.jpg")
    retry = ids.job_id_for("s/d/2026/11/22/p.jpg", retry_of=a)
    assert retry not in (a, ids.job_id_for("s/d/2026/11/22/p.jpg", retry_of=retry))  # each retry its own id
    assert ids.is_job_id(a) and ids.is_job_id(retry) and len(a) <= 64
    assert ids.same_version('"0x8DC"', "0x8DC") and not ids.same_version('"0x8DC"', '"0x8DD"')
    assert not ids.same_version(None, '"0x8DC"')
    assert ids.batch_job_id(T0.date()) == "sitelens-20261122"
    assert ids.event_id(a, "SUCCEEDED") == ids.event_id(a, "SUCCEEDED") != ids.event_id(a, "FAILED")


def test_a_batch_job_id_is_the_utc_day_alone_whatever_the_model():
    """Batch's quota of active jobs is per account (100 by default): a Batch job per model version and day filled
    it once a few dozen versions were routed. The day ends the id, which the submitter closes days by."""
    last_second, midnight = T0 + timedelta(hours=16, seconds=-1), T0 + timedelta(hours=16)
    assert ids.batch_job_id(last_second.date()) == ids.batch_job_id(T0.date()) == "sitelens-20261122"
    assert ids.batch_job_id(midnight.date()) == "sitelens-20261123"
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", ids.batch_job_id(midnight.date()))  # what Batch allows in an id


def test_a_job_id_with_anything_around_it_is_not_a_job_id():
    a = ids.job_id_for("s/d/2026/11/22/p.jpg")
    for near in (a + "\n", a + " ", " " + a, a[:-1], a + "a", a.upper(), "x" + a[1:]):
        assert not ids.is_job_id(near), repr(near)


def test_routing_splits_by_weight_and_is_stable_per_job():
    routes = routing.parse(b'{"routes": [{"model": "ocr/a", "weight": 90}, {"model": "ocr/b", "weight": 10}]}')
    chosen = [routing.choose(ids.job_id_for(f"n{i}"), routes, "ocr/default") for i in range(4000)]
    share_b = chosen.count("ocr/b") / len(chosen)
    assert 0.08 < share_b < 0.12, share_b
    assert all(routing.choose(ids.job_id_for(f"n{i}"), routes, "x") == chosen[i] for i in range(50))
    assert routing.choose("j_x", [], "ocr/default") == "ocr/default"
    assert routing.choose("j_x", [("ocr/a", 0)], "ocr/default") == "ocr/default"


@pytest.mark.parametrize(
    "doc",
    [b"not json", b'{"routes": [{"model": "../etc", "weight": 1}]}', b'{"routes": [{"model": "ocr/a", "weight": -1}]}',
     b'{"routes": [{"model": "ocr/a", "weight": 0}]}', b'{"routes": [{"weight": 1}]}'],
)  # fmt: skip
def test_bad_routing_documents_are_refused_with_a_reason(doc):
    with pytest.raises(InvalidInput, match="routing") as info:
        routing.parse(doc)
    assert info.value.reason == "bad_routing"
