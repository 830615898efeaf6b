"""Feedback on jobs in Azure Table storage, for TableJobStore (shared/adapters/azure_job_store.py): the table
`jobfeedback`, PartitionKey the job id, RowKey the entry's place in the job's feedback (`000`, `001`, ...),
created if absent.

Nothing finds an entry but its job, so one written for a job that is gone would keep the user's words for good.
A writer therefore reads the job both before and after it writes its entry, and deletes the entry and answers
NotFound when the second read finds the job gone (erased by `sitelens erase`, or its records expired meanwhile);
and `TableJobStore.erase_job` erases the job's feedback again once the job's row is gone, after the erasure's
own `erase_feedback`. An entry written after that first erase is so either deleted by the second, or written
after the job's row went, and its writer's second read finds that.
"""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from azure.data.tables import TableClient, TableServiceClient

from shared.adapters.azure_erasure import erase_rows
from shared.adapters.azure_errors import call, translated
from shared.errors import Conflict, NotFound
from shared.jobs.feedback import BOXES, MAX_PER_JOB, TEXT_FIELDS, feedback_id, limit_reached

# A string property holds at most 32,768 UTF-16 code units (64 KiB), so a list member (a detection's boxes) is
# kept as its JSON in parts of at most this many characters (two units each at most): `boxes`, `boxes_2`, ...
# The API takes 64 KiB of body, which stores as at most about 77,000 characters (each coordinate may grow by
# up to 14, `1e15` becoming 1000000000000000.0): five parts, well inside an entity's 1 MiB and 255 properties.
FEEDBACK_PART_CHARS = 16_000


def to_feedback_entity(job_id: str, place: int, members: dict[str, Any], at: datetime) -> dict[str, Any]:
    """One feedback entry as a `jobfeedback` entity: strings as they are, a list as its JSON in parts."""
    entity: dict[str, Any] = {"PartitionKey": job_id, "RowKey": f"{place:03d}", "feedback_id": feedback_id(members),
                              "at": at.isoformat()}  # fmt: skip
    for name, value in members.items():
        if name in TEXT_FIELDS:
            entity[name] = value
            continue
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        parts = [text[start : start + FEEDBACK_PART_CHARS] for start in range(0, len(text), FEEDBACK_PART_CHARS)]
        entity.update({name if n == 1 else f"{name}_{n}": part for n, part in enumerate(parts, start=1)})
    return entity


def from_feedback_entity(entity: Any) -> dict[str, Any]:
    """The members kept, as `to_feedback_entity` was given them."""
    members = {name: entity[name] for name in TEXT_FIELDS if name in entity}
    if BOXES in entity:
        parts = itertools.takewhile(bool, (entity.get(f"{BOXES}_{n}") for n in itertools.count(2)))
        members[BOXES] = json.loads(entity[BOXES] + "".join(parts))
    return members


class TableFeedback:
    def __init__(self, service: TableServiceClient, table: str, job: Callable[[str], object]) -> None:
        """`job`: a point read of a job, NotFound when it is gone (TableJobStore.get)."""
        self._feedback: TableClient = call("feedback table", service.create_table_if_not_exists, table)
        self._job = job

    def add(self, job_id: str, feedback: dict[str, Any], at: datetime) -> str:
        """Keep `feedback` once, in the job's next place; its id. Two writers aiming at one place: one wins, the
        other reads again, so each lost race means one more entry kept and the cap ends the loop."""
        self._job(job_id)  # NotFound for an unknown job
        wanted = feedback_id(feedback)
        for _ in range(MAX_PER_JOB + 1):
            with translated("feedback"):  # the page is fetched while listing
                rows = self._feedback.query_entities("PartitionKey eq @job", parameters={"job": job_id},
                                                     select=["feedback_id"])  # fmt: skip
                kept = [row.get("feedback_id") for row in itertools.islice(rows, MAX_PER_JOB + 1)]
            if wanted in kept:
                return wanted  # the same feedback again: answered as first kept
            if len(kept) >= MAX_PER_JOB:
                raise limit_reached(job_id)
            entry = to_feedback_entity(job_id, len(kept), feedback, at)
            with contextlib.suppress(Conflict):  # another entry took this place: look again
                call("feedback", self._feedback.create_entity, entry)
                self._kept_with_its_job(entry)
                return wanted
        raise Conflict(f"feedback on job {job_id} kept losing its place")  # unreachable: see above

    def _kept_with_its_job(self, entry: dict[str, Any]) -> None:
        """The job read again after its entry was written: gone since the first read, the entry goes too."""
        try:
            self._job(entry["PartitionKey"])
        except NotFound:
            call("feedback", self._feedback.delete_entity, entry["PartitionKey"], entry["RowKey"])
            raise

    def erase(self, job_id: str) -> int:
        """The job's entries; how many there were."""
        return erase_rows(self._feedback, "PartitionKey eq @job", {"job": job_id})
