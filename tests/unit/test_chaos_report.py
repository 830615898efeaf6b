"""The chaos run's verdict (sitelens/chaos_report.py): each kind of loss and doubling is caught, and a clean
run reports none. Pure: jobs, events, checksums and the receiver's log built here."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from shared.jobs.models import Job, JobState
from sitelens.chaos_receiver import ChaosReceiver, Request
from sitelens.chaos_report import Facts, percentiles, verdict
from sitelens.upload import Outcome

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


def _job(n: int, state: JobState = JobState.SUCCEEDED, **extra: Any) -> Job:
    fields: dict[str, Any] = {"photo_id": f"p{n}", "blob_name": f"s/d/p{n}.jpg", **extra}
    return Job(id=f"j{n}", site="s", device="d", blob_etag="e", received_at=T0, state=state,
               finished_at=T0 + timedelta(seconds=n), result_path=f"j{n}/result.json",
               result_checksum=f"sha256:{n}", **fields)  # fmt: skip


def _outcome(n: int) -> Outcome:
    return Outcome(f"/p{n}.jpg", "uploaded", f"s/d/p{n}.jpg", f"j{n}", committed_at=T0.isoformat())


def _clean(count: int = 3) -> tuple[dict[str, Outcome], Facts, ChaosReceiver]:
    jobs = {f"j{n}": _job(n) for n in range(count)}
    events = {f"j{n}": [{"Type": "job.succeeded"}] for n in range(count)}
    facts = Facts(jobs, events, {f"j{n}": f"sha256:{n}" for n in range(count)})
    receiver = ChaosReceiver()
    receiver.log += [Request(f"evt{n}", "job.succeeded", f"j{n}", True, 204) for n in range(count)]
    return {f"/p{n}.jpg": _outcome(n) for n in range(count)}, facts, receiver


def test_a_clean_run_has_nothing_lost_or_doubled_and_its_figures() -> None:
    outcomes, facts, receiver = _clean()
    report = verdict(outcomes, {}, facts, receiver)
    assert report["lost"] == [] and report["doubled"] == []
    assert report["terminal_states"] == {"SUCCEEDED": 3}
    assert report["webhooks"]["deliveries_per_event"] == {1: 3}
    assert report["time_to_result_s"]["p50"] == 1.0


def test_each_loss_is_named() -> None:
    outcomes, facts, receiver = _clean()
    del facts.jobs["j0"]  # committed, never accepted
    facts.jobs["j1"] = _job(1, JobState.QUEUED)  # never terminal
    receiver.log[2] = Request("evt2", "job.succeeded", "j2", True, 500)  # terminal, never delivered
    whys = [x["why"] for x in verdict(outcomes, {}, facts, receiver)["lost"]]
    assert whys == ["committed, never accepted", "still QUEUED", "terminal, no webhook delivered"]


def test_each_doubling_is_named() -> None:
    outcomes, facts, receiver = _clean(4)
    facts.jobs["j9"] = _job(9, photo_id="p0")  # a second job for photo p0
    facts.events["j1"].append({"Type": "job.failed"})  # two terminal events
    facts.checksums["j2"] = "sha256:other"  # the stored result is not the job's
    receiver.log.append(Request("evt3-again", "job.succeeded", "j3", True, 204))  # two ids for one transition
    again = {"/p0.jpg": Outcome("/p0.jpg", "uploaded", "s/d/p0-b.jpg", "j8")}  # the upload again got another job
    whys = " | ".join(x["why"] for x in verdict(outcomes, again, facts, receiver)["doubled"])
    for expected in ("a job other than", "2 jobs for one photo", "2 terminal events", "not the stored state",
                     "checksum", "2 webhook ids"):  # fmt: skip
        assert expected in whys


def test_percentiles_of_nothing_and_of_a_list() -> None:
    assert percentiles([]) == {"p50": None, "p95": None, "max": None}
    assert percentiles([float(x) for x in range(1, 101)]) == {"p50": 50.5, "p95": 95.0, "max": 100.0}
