"""The chaos run's verdict, read from the durable facts after the faults stopped: the jobs table, the
webhook events table, the result blobs and the receiver's log; Azurite is read directly, never through the
fault proxy.

`lost` lists what never reached its end: a photo a device committed without a job, a job not terminal, a
terminal job whose event no receiver got. `doubled` lists what happened twice: a photo (site, device, photo
id) with two jobs, a job with two terminal events or with an event whose type is not its stored state, a
result whose bytes do not have the job's checksum, two webhook ids delivered for one job.
"""

from __future__ import annotations

import hashlib
import statistics
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient

from batch_tasks.artifacts import RESULTS
from shared.adapters.azure_job_store import from_entity
from shared.jobs.models import Job
from sitelens.chaos_receiver import ChaosReceiver
from sitelens.upload import Outcome

TERMINAL = ("SUCCEEDED", "FAILED", "REJECTED")


@dataclass(frozen=True)
class Facts:
    jobs: dict[str, Job]
    events: dict[str, list[dict[str, Any]]]  # job id → its rows in webhookevents
    checksums: dict[str, str | None]  # job id → sha256 of the result.json stored for it (None: no blob)


def read_facts(connection: str, job_ids: set[str]) -> Facts:
    tables = TableServiceClient.from_connection_string(connection)
    jobs = {}
    for entity in tables.get_table_client("jobs").query_entities("RowKey eq 'job'"):
        job = from_entity(entity)
        jobs[job.id] = job
    events: dict[str, list[dict[str, Any]]] = {}
    try:
        for row in tables.get_table_client("webhookevents").query_entities("RowKey eq 'event'"):
            events.setdefault(str(row["JobId"]), []).append(dict(row))
    except ResourceNotFoundError:  # no event was ever published
        pass
    results = BlobServiceClient.from_connection_string(connection).get_container_client(RESULTS)
    checksums: dict[str, str | None] = {}
    for job_id in sorted(job_ids & set(jobs)):
        job = jobs[job_id]
        if job.state.value != "SUCCEEDED" or not job.result_path:
            continue
        try:
            data = results.download_blob(job.result_path).readall()
            checksums[job_id] = f"sha256:{hashlib.sha256(data).hexdigest()}"
        except ResourceNotFoundError:
            checksums[job_id] = None
    return Facts(jobs, events, checksums)


def _state(job: Job) -> str:
    return str(job.state.value)


def _when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "max": None}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"p50": round(statistics.median(ordered), 2), "p95": round(p95, 2), "max": round(ordered[-1], 2)}


def _lost(wanted: set[str], jobs: dict[str, Job], delivered: dict[str, set[str]]) -> list[dict[str, str]]:
    lost = []
    for job_id in sorted(wanted):
        job = jobs.get(job_id)
        if job is None:
            lost.append({"job": job_id, "why": "committed, never accepted"})
        elif _state(job) not in TERMINAL:
            lost.append({"job": job_id, "why": f"still {_state(job)}"})
        elif not delivered.get(job_id):
            lost.append({"job": job_id, "why": "terminal, no webhook delivered"})
    return lost


def _doubled_photos(outcomes: dict[str, Outcome], again: dict[str, Outcome], facts: Facts) -> list[dict[str, str]]:
    doubled = []
    for path, repeat in again.items():
        first = outcomes[path].job_id
        if repeat.job_id and repeat.job_id != first:
            doubled.append({"job": str(repeat.job_id), "why": f"the photo uploaded again got a job other than {first}"})
    photos = Counter((j.site, j.device, j.photo_id) for j in facts.jobs.values() if j.retry_of is None)
    doubled += [{"job": "/".join(k), "why": f"{n} jobs for one photo"} for k, n in photos.items() if n > 1]
    return doubled


def _doubled_job(job: Job, facts: Facts, delivered: set[str]) -> list[str]:
    """What happened twice to one job: its terminal events, its result's checksum, its webhook ids."""
    found = []
    rows = facts.events.get(job.id, [])
    if len(rows) > 1:
        found.append(f"{len(rows)} terminal events: {sorted(r['Type'] for r in rows)}")
    if any(r["Type"] != f"job.{_state(job).lower()}" for r in rows):
        found.append(f"an event's type is not the stored state {_state(job)}")
    if job.id in facts.checksums and facts.checksums[job.id] != job.result_checksum:
        found.append("the result's bytes do not have the job's checksum")
    if len(delivered) > 1:
        found.append(f"{len(delivered)} webhook ids delivered for one transition")
    return found


def verdict(outcomes: dict[str, Outcome], again: dict[str, Outcome], facts: Facts,
            receiver: ChaosReceiver) -> dict[str, Any]:  # fmt: skip
    """The report's checks: states, lost, doubled, webhook deliveries per event, time to result."""
    wanted = {o.job_id: o for o in outcomes.values() if o.job_id}
    jobs = {i: j for i, j in facts.jobs.items() if i in wanted}
    delivered = receiver.delivered()
    lost = _lost(set(wanted), jobs, delivered)
    doubled = _doubled_photos(outcomes, again, facts)
    for job_id, job in sorted(jobs.items()):
        doubled += [{"job": job_id, "why": why} for why in _doubled_job(job, facts, delivered.get(job_id, set()))]
    per_event = Counter(r.webhook_id for r in receiver.log)
    to_result = []
    for job_id, job in jobs.items():
        committed = _when(wanted[job_id].committed_at)
        if committed is not None and job.finished_at is not None:
            to_result.append((job.finished_at.astimezone(UTC) - committed).total_seconds())
    return {
        "jobs_accepted": len(jobs),
        "terminal_states": dict(Counter(_state(j) for j in jobs.values() if _state(j) in TERMINAL)),
        "reasons": dict(Counter(f"{_state(j)}:{j.reason}" for j in jobs.values() if j.reason)),
        "cached": sum(1 for j in jobs.values() if j.cached_from),
        "lost": lost,
        "doubled": doubled,
        "unsigned_deliveries": sum(1 for r in receiver.log if not r.verified),
        "webhooks": {
            "requests": len(receiver.log),
            "events": len(per_event),
            "deliveries_per_event": dict(sorted(Counter(per_event.values()).items())),
        },
        "time_to_result_s": percentiles(to_result),
    }
