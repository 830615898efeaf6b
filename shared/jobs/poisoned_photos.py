"""`on_photo_poisoned`: a second, spaced round of tries for a photo whose blob trigger failed every try.

The Functions host runs `on_photo_uploaded` `poisonBlobThreshold` (5) times back to back: the blob
trigger's own queue takes its options from `extensions.blobs` only, so a failed try is visible again at
once, and the five tries are spent within seconds. A storage blip that long before the job's row exists
used to leave the photo with no job at all, its trigger message in `webjobs-blobtrigger-poison`, read by
nothing. That queue is a trigger here. The host keeps no poison queue for a queue whose name ends in
`-poison` and does not release a failed message of such a queue: it comes back when its 10-minute lease
lapses. So the second round is `TRIES` (host.json's maxDequeueCount) tries about ten minutes apart.

- A try ingests the photo again (`Ingestion.ingest`, safe to repeat); a failure raises, so the host
  delivers the message again.
- The last two tries record the photo's job RECEIVED before they ingest (a job that exists only has its
  open-index entry made sure of). The host runs nothing after the last try, not even when the process running
  it dies: the message comes back past the count, and a queue with no poison queue keeps such a message unrun
  until it expires. A job recorded first is in the open index whatever then dies, so the reconciler re-drives
  it or fails it `timed_out`; and the record of the penultimate try covers a last try that dies even before
  its own record is written. A photo no longer stored (deleted, or erased while its message waited) gets no
  job: those tries ask first, as ingestion does (`_gone`), and answer as ingestion does, with nothing to do.
- The last try settles the photo whatever failed. The job only this round recorded, still bare (`_bare`),
  ends FAILED `ingestion_failed` with the last error as its detail; a job ingestion recorded or took further
  (validation accepted its photo, even if routing then could not answer) is left where it is, for the
  reconciler to re-drive or time out.
- What the last try cannot settle (storage refusing even that), and a message that is not this app's photo
  trigger, is for an operator: the caller copies it to `OPERATOR_QUEUE`, which the poison alert watches.

The services come from factories called inside a try, because building them can fail too (ingestion needs
the Batch settings, the job store creates its tables) and the last try must settle the photo whatever failed.
"""

from __future__ import annotations

import enum
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from shared import metrics
from shared.errors import NotFound
from shared.jobs import ids
from shared.jobs.finisher import Finisher
from shared.jobs.ingestion import UNKNOWN, Ingestion
from shared.jobs.models import Job, JobState
from shared.jobs.ports import JobStore
from shared.uploads.naming import PHOTOS
from shared.validation import parse_name

log = logging.getLogger(__name__)
POISON_QUEUE = "webjobs-blobtrigger-poison"  # the Storage extension's name, one per storage account
OPERATOR_QUEUE = f"{POISON_QUEUE}-poison"
BLOB_FUNCTION_ID = "Host.Functions.on_photo_uploaded"  # function_app.py's blob trigger, as the host names it
TRIES = 5  # host.json extensions.queues.maxDequeueCount: the host runs no try after the last
REASON = "ingestion_failed"
MAX_DETAIL = 500


class Outcome(enum.StrEnum):
    INGESTED = "ingested"  # ingestion went as far as it goes now, or the photo is gone
    FAILED = "failed"  # the last try recorded the photo's new job FAILED `ingestion_failed`
    JOB_EXISTS = "job_exists"  # the last try found the photo's job: finished, or open for the reconciler
    FOR_AN_OPERATOR = "for_an_operator"  # the caller copies the message to OPERATOR_QUEUE

    @property
    def for_an_operator(self) -> bool:
        return self is Outcome.FOR_AN_OPERATOR


@dataclass(frozen=True)
class TriggerMessage:
    """The host's BlobTriggerMessage, as it lands in the poison queue."""

    function_id: str
    container: str
    blob_name: str
    etag: str


def parse(body: bytes) -> TriggerMessage | None:
    """The trigger message in `body`, or None when it is not one."""
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        return None
    fields = ("FunctionId", "ContainerName", "BlobName", "ETag")
    if not isinstance(doc, dict) or not all(isinstance(doc.get(f), str) and doc[f] for f in fields):
        return None
    return TriggerMessage(*(doc[f] for f in fields))


class PoisonedPhotos:
    def __init__(
        self,
        *,
        ingestion: Callable[[], Ingestion],
        store: Callable[[], JobStore],
        finisher: Callable[[], Finisher],
        clock: Callable[[], datetime],
        tries: int = TRIES,
    ) -> None:
        self.ingestion, self.store, self.finisher, self.clock, self.tries = ingestion, store, finisher, clock, tries

    def handle(self, body: bytes, dequeue_count: int) -> Outcome:
        """One try of the second round; raises to be tried again, unless this is the last try."""
        message = parse(body)
        if message is None or message.function_id != BLOB_FUNCTION_ID or message.container != PHOTOS:
            log.warning("a blob trigger poison message that is not a photo's trigger is left for an operator")
            return Outcome.FOR_AN_OPERATOR
        try:
            if dequeue_count >= self.tries - 1:
                if self._gone(message.blob_name):
                    return Outcome.INGESTED  # ingestion's answer for a photo that is gone: nothing recorded
                self._record(message)  # first: whatever dies after this, the job is in the open index
            self.ingestion().ingest(message.blob_name)
        except Exception as exc:  # the last try settles the photo whatever failed
            if dequeue_count < self.tries:
                log.warning("photo %s: try %d of %d failed again (%s)", message.blob_name, dequeue_count,
                            self.tries, exc)  # fmt: skip
                raise
            return self._settle(message, exc)
        return Outcome.INGESTED

    def _settle(self, message: TriggerMessage, error: Exception) -> Outcome:
        try:
            job = self._record(message)
        except Exception:  # whatever failed, the message must reach a person
            log.exception("photo %s: ingestion failed on every try and no job could be recorded; the message "
                          "goes to %s", message.blob_name, OPERATOR_QUEUE)  # fmt: skip
            return Outcome.FOR_AN_OPERATOR
        if not _bare(job):
            log.warning("photo %s: ingestion failed on every try (%s); its job exists and stays with the "
                        "reconciler", message.blob_name, error)  # fmt: skip
            return Outcome.JOB_EXISTS
        detail = f"ingestion failed on every try, the last with {type(error).__name__}: {error}"[:MAX_DETAIL]
        try:
            self.finisher().finish(job, JobState.FAILED, reason=REASON, detail=detail)
        except Exception as exc:  # noqa: BLE001 - the job is in the open index: the reconciler re-drives it
            log.warning("job %s: recorded, but not yet FAILED (%s); the reconciler has it", job.id, exc)
            return Outcome.JOB_EXISTS
        return Outcome.FAILED

    def _gone(self, blob_name: str) -> bool:
        """Whether the photo is no longer stored, asked as `Ingestion.ingest` asks, before a record would bring
        back a job for it: its row would carry the photo's site, device and name, and the reconciler would fail
        it `photo_missing` with a webhook event, for a photo deleted, or erased (`sitelens erase`), while its
        message waited. An answer that does not come (storage, the app's settings) is not "gone": the record is
        what these tries are for, and ingestion, failing the same way, raises after it.

        One window stays: an erasure that deletes the photo after this answer and the job's row before the
        record (it deletes the photo first and the row last) leaves the row recorded here, RECEIVED; the
        reconciler fails it `photo_missing`, and erasing that job again removes it."""
        try:
            self.ingestion().photos.photo_info(blob_name)
        except NotFound:
            log.info("photo %s is gone (deleted or erased) before its job was recorded; nothing to do", blob_name)
            return True
        except Exception as exc:  # noqa: BLE001 - not known to be gone: the job is recorded, as if it were there
            log.warning("photo %s: could not learn whether it is still stored (%s); recording its job", blob_name, exc)
        return False

    def _record(self, message: TriggerMessage) -> Job:
        """The photo's job as stored: recorded RECEIVED if absent, else its open-index entry made sure of."""
        store, job = self.store(), self._job_for(message)
        created = store.create(job)
        if created is None:
            return store.get(job.id)
        metrics.photo_received(created.site)  # ingestion, finding the job, counts it no more
        return created

    def _job_for(self, message: TriggerMessage) -> Job:
        """A RECEIVED job for the photo, bound to the version its trigger named (the one it failed on)."""
        name = parse_name(message.blob_name)
        unnamed = (UNKNOWN, UNKNOWN, message.blob_name[-64:])
        site, device, photo = (name.site, name.device, name.photo_id) if name else unnamed
        return Job(ids.job_id_for(message.blob_name), site, device, photo, message.blob_name, message.etag,
                   self.clock())  # fmt: skip


def _bare(job: Job) -> bool:
    """Whether `job` is still only what `_record` wrote: RECEIVED, never validated, and without a task token.

    Ingestion gives a token to every job it records and to every job before it submits it, and records the
    photo's bytes (`content_sha256`) once validation accepts it, even where routing then cannot answer, so a
    bare job is one this round recorded and ingestion never took further (or one a release before tokens
    recorded and never validated). A job with a token or with its bytes is the reconciler's: it may yet go
    through (a Batch outage longer than the round; routing.json malformed until someone fixes it), as the same
    job recorded by ingestion would."""
    return job.state is JobState.RECEIVED and job.content_sha256 is None and job.task_token is None
