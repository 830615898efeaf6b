"""Moving a job to its terminal state, once, and making sure its event reaches the outbox.

The terminal write is conditional; if it loses to another worker, the stored job wins (terminal states
never change). The event is recorded after the write and the job marked published after that, so a crash
in between leaves a terminal, unpublished job that the reconciler finds in the open index and publishes:
the event id is derived from the job, so a second publish is a no-op.

The deliveries' `notifications` messages are queued only after the mark returned, never as the deliveries are
written, and only by the publisher whose mark wrote it: two concurrent publishers (the completion and the
reconciler) record the same deliveries, and the one whose mark lost to the other's leaves the queueing to it (a
write that won but marked nothing, a later version noted, is read and the mark tried again), so a delivery gets
one message, not two racing for its first attempt. A publisher that read the job before another marked it
published can publish after the job was erased (`sitelens erase`) or its records expired: the event and its
deliveries are written again for a job that no longer exists, and would be kept for good (nothing finds them
without the job). Its mark then finds the job gone, so it erases the event again (`events`), queues nothing and
raises NotFound: no dispatcher is ever told of that event, so the erased job's document is not sent.

A publish whose mark fails (a storage error, or the process dying before it) leaves pending deliveries with no
message and the job unpublished: the next publish (the host's retry of the message, or the reconciler's) records
again, which returns the deliveries already written that have no attempt yet, and queues them once its own mark
returned, at once. A process that dies after its mark but before queueing leaves the job published, so the
reconciler's publish records nothing and queues none (nor does a concurrent publisher whose mark lost): the webhook
sweep (`WebhookService.sweep`, the
`reconcile_webhooks` timer) re-drives each delivery once it is `SITELENS_WEBHOOK_LOST_MESSAGE_S` past due
(2 minutes), so it goes out that much later, plus up to a timer period (2 minutes in Azure).

What is left: a publish recorded after an erasure took the job's events and marked before it took the job's row
finds the job still there, so its event is kept and its messages queued (the erased job's document sent once);
and a stale publisher that dies between recording and its mark leaves the erased job's event, whose deliveries
the sweep then sends.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from shared import metrics
from shared.errors import Conflict, NotFound
from shared.jobs import document, ids
from shared.jobs.models import Job, JobState
from shared.jobs.ports import JobStore, Outbox
from shared.webhooks.ports import EventErasure

log = logging.getLogger(__name__)
MAX_RACES = 5


class Finisher:
    def __init__(
        self,
        store: JobStore,
        outbox: Outbox,
        clock: Callable[[], datetime],
        links: Callable[[Job], dict[str, str]] = document.no_links,
        events: EventErasure | None = None,
    ) -> None:
        """`links`: a `document.ResultLinks`, so a succeeded job's event carries the links the API shows; `events`:
        what erases an event published for a job gone meanwhile (without it, such an event is only logged)."""
        self.store, self.outbox, self.clock, self.links, self.events = store, outbox, clock, links, events

    def finish(self, job: Job, state: JobState, **changes: Any) -> Job:
        """Make `job` terminal in `state` (unless it already is terminal) and publish its event."""
        current = job
        for _ in range(MAX_RACES):
            if current.terminal:
                break
            target = current.advance(state, self.clock(), event_id=ids.event_id(current.id, state), **changes)
            try:
                current = self.store.update(target)
                log.info("job %s -> %s (%s)", current.id, current.state, current.reason or "ok")
                latency = current.latency_ms
                metrics.photo_finished(current.site, current.state.value, current.reason, current.model,
                                       latency / 1000 if latency is not None else None)  # fmt: skip
                break
            except Conflict:
                current = self.store.get(job.id)  # someone else moved it: re-decide on the stored job
        else:
            raise Conflict(f"job {job.id} kept changing while being finished")
        return self.publish(current)

    def publish(self, job: Job) -> Job:
        """Publish a terminal job's event if it was not yet; then take it off the open index."""
        if not job.terminal:
            return job
        if not job.event_published:
            event_id = job.event_id or ids.event_id(job.id, job.state)
            unsent = self.outbox.record(event_id, job, document.public(job, self.links(job)))
            try:
                job, ours = self._mark_published(job, event_id)
            except NotFound:
                self._withdraw(job, event_id)
                raise
            if ours:
                self.outbox.notify(unsent)  # only now, the job known to stand (see the module's doc)
            elif not job.event_published:
                return job  # it kept changing: the reconciler marks it
        self.store.close(job.id)
        return job

    def _mark_published(self, job: Job, event_id: str) -> tuple[Job, bool]:
        """The job marked published and True; the job as stored and False when another publisher marked it first.
        A write that won but marked nothing (a later photo version noted on it, a retry's pointer) is read and the
        mark tried again: no one else would queue the deliveries."""
        for _ in range(MAX_RACES):
            try:
                return self.store.update(replace(job, event_id=event_id, event_published=True)), True
            except Conflict:
                job = self.store.get(job.id)
                if job.event_published:
                    return job, False
        return job, False

    def _withdraw(self, job: Job, event_id: str) -> None:
        """The event just recorded for a job gone since it was read (see the module's doc) erased again."""
        if self.events is None:
            log.warning("job %s is gone: its event %s, recorded again, is left", job.id, event_id)
            return
        log.warning("job %s is gone: its event %s, recorded again, is erased", job.id, event_id)
        self.events.erase_event(event_id)
