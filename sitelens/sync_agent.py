"""The field sync agent: empty a camera's drop folder into sitelens, each photo once (`sitelens sync`).

Each pass lists the folder, waits until a file's size and mtime have held for `settle_s` and it ends as a
whole JPEG or PNG does (the camera has finished writing it: sync_settler.py), uploads it with the one upload
client (sitelens/upload.py: blocks, resume from the blocks the service already holds, a bandwidth cap), and
asks the status API after the jobs it sent. What was seen, uploaded and confirmed is in the journal
(sync_journal.py) before the agent moves on, so a restart repeats at most the step in flight. When the API or
storage does not answer, the agent backs off (doubling, capped, with jitter) and tries again, never sooner than
the API's `Retry-After` asked; the service then lists the blocks staged before the link dropped. A file it
cannot read (permissions, a bad sector) is the file's own fault: the others go on, and it is tried again a
minute later, without a back-off; so is a photo `--move-done` cannot move (its folder full, read-only): it stays.

The photo id is `upload.default_photo_id`: the file's name and a hash of its bytes. The same file always
gets the same reservation, whatever the journal remembers; a renamed file, or a copy under another name,
is another photo, which the service completes from the first one's result (reported as a duplicate).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sitelens import sync_journal as j
from sitelens.sync_moves import move_into
from sitelens.sync_settler import INCOMPLETE_S, Settler, list_photos
from sitelens.sync_status import LastError, Status, utc_now
from sitelens.upload import Outcome

log = logging.getLogger("sitelens.sync")
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "REJECTED"})
# Refusals about the photo itself: sending it again cannot help. Anything else (the link, a 5xx, a wrong key,
# an expired SAS) is the connection's or the configuration's, and is retried after a back-off.
PHOTO_FAULTS = frozenset({"unsupported_type", "too_large", "invalid_photo_id", "photo_id_conflict",
                          "type_mismatch", "invalid_block_list"})  # fmt: skip
UNREADABLE = "unreadable"  # the upload could not read the file: its fault alone, and perhaps fixed later
JOB_POLL_S = 5.0  # the status API's Retry-After for a job still running
# The API asks for an hour at most (the reservation cap's next hour); a proxy's longer Retry-After counts as that.
LONGEST_ASKED_S = 3600.0
UNREADABLE_RETRY_S = 60.0  # a permission fixed, a card re-seated: soon enough, without a log line every pass
MOVE_FAILED = "move_failed"  # last_error's reason when --move-done could not move a photo (tried again as above)
# A job is recorded seconds after its commit, some 40 minutes via the poison queue (docs/reliability.md), or days later
# when an operator requeues its message from webjobs-blobtrigger-poison-poison, kept 7 days (docs/deploy.md). So only
# the API's not_found 8 days after the row's last change is for good: the job was erased, its records expired, or the
# API is another deployment. Until then a job not found is looked for again after a tenth of its wait, an hour at most:
# a time kept in the journal, on its wall clock, so that each `--once` run waits for it as a long-running agent does.
UNKNOWN_JOB_AFTER, UNKNOWN_JOB = timedelta(days=8), "unknown_job"  # the bound, and the reason its `unknown` rows give
NOT_FOUND_LOOK_CAP_S = 3600.0
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_OFFLINE = 0, 1, 2, 3

# GET /jobs/{id}: the document, None for the API's own not_found; raises LookupRefused for any other answer, or if down
JobLookup = Callable[[str], "dict[str, Any] | None"]


class LookupRefused(ConnectionError):
    """`GET /jobs/{id}` answered, but not with the job (429, 5xx, a 404 that is not the app's): asked again later,
    and no sooner than its `Retry-After` (`retry_after`, seconds; None without one)."""

    def __init__(self, detail: str, retry_after: float | None) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


UploadOne = Callable[[Path], Outcome]


@dataclass(frozen=True)
class SyncSettings:
    folder: Path
    settle_s: float = 5.0
    poll_s: float = 2.0
    backoff_base_s: float = 2.0
    backoff_cap_s: float = 300.0
    move_done: Path | None = None
    incomplete_s: float = INCOMPLETE_S  # how long a settled file whose end is missing waits before it goes anyway


class Agent:
    def __init__(self, settings: SyncSettings, journal: j.Journal, upload: UploadOne, job: JobLookup,
                 status_path: Path, *, clock: Callable[[], float] = time.monotonic,
                 jitter: Callable[[], float] = random.random) -> None:  # fmt: skip
        self.settings, self.journal, self.upload, self.job = settings, journal, upload, job
        self.status_path, self.clock, self.jitter = status_path, clock, jitter
        self.settler = Settler(settings.settle_s, settings.incomplete_s, kept=journal)  # first sightings kept there
        self.status = Status(folder=str(settings.folder))
        self.failures = 0  # consecutive link failures, for the back-off
        self.backoff_until = 0.0
        self.next_job_check: dict[str, float] = {}  # JOB_POLL_S between looks; a not_found's longer wait: the journal
        self.retry_at: dict[tuple[str, int, int], float] = {}  # a version unreadable, or its move refused → next try
        self.settling: list[dict[str, Any]] = []

    # --- one pass ---------------------------------------------------------------------------------
    def step(self, stopping: Callable[[], bool] = lambda: False) -> None:
        """List the folder, upload what has settled (unless backing off), ask after the jobs, write the status.

        `stopping` is asked before each upload: a stop (SIGTERM) waits for the upload in flight, not the pass.
        """
        now = self.clock()
        files = list_photos(self.settings.folder)
        settled = self.settler.observe(files, now)
        self.settling = self.settler.unsettled(settled)
        self._forget_vanished(files)
        self.journal.prune(files)  # history that no longer matters, a small batch a pass, a sweep a day at most
        # Every settled version is journaled first, so the status file counts those waiting out a back-off.
        entries = [self._take(*version) for version in settled]
        if now >= self.backoff_until:
            if any(entry.state == j.PENDING and self._due(entry, now) for entry in entries):
                self.write_status("uploading")  # an upload may take minutes on a slow link: say so first
            for entry in entries:
                if stopping():
                    break
                if entry.state == j.PENDING and self._due(entry, now) and not self._send(entry):
                    break  # the link is down: the other files wait for the back-off too
                if entry.state in (j.CONFIRMED, j.FINISHED):
                    self._move_done(entry)  # a move a crash interrupted
        if not stopping() and self.clock() >= self.backoff_until:
            self._ask_after_jobs()
        self.write_status("backing_off" if self.clock() < self.backoff_until else "running")

    def idle(self) -> bool:
        """Nothing left this pass could do: no file still settling, and nothing pending that is due (the link is
        down, or the file could not be read and waits for its next try)."""
        now = self.clock()
        due = [e for e in self.journal.in_state(j.PENDING) if self._due(e, now)]
        return not self.settling and (not due or now < self.backoff_until)

    def wait_s(self) -> float:
        return max(self.settings.poll_s, self.backoff_until - self.clock())

    def exit_code(self) -> int:
        pending = self.journal.in_state(j.PENDING)
        if self.settling or not all(_unreadable(entry) for entry in pending):
            return EXIT_OFFLINE
        return EXIT_FAILED if pending or self.journal.in_state(j.FAILED) else EXIT_OK

    def _take(self, path: str, size: int, mtime_ns: int) -> j.Entry:
        """The journal's entry for a settled version. One marked gone that is back (moved out and in again, or a
        share that listed nothing for a pass) is the same photo, still unsent: pending again."""
        entry = self.journal.find(path, size, mtime_ns) or self.journal.add(path, size, mtime_ns)
        if entry.state != j.GONE:
            return entry
        self.journal.update(entry, j.PENDING, reason=None)
        log.info("%s is back in the folder, unchanged; it will be sent", Path(path).name)
        return replace(entry, state=j.PENDING, reason=None)

    def _due(self, entry: j.Entry, now: float) -> bool:
        return now >= self.retry_at.get((entry.path, entry.size, entry.mtime_ns), 0.0)

    # --- uploads ----------------------------------------------------------------------------------
    def _send(self, entry: j.Entry) -> bool:
        """Upload one settled file; False when the link (or the configuration) failed and the agent backs off."""
        path = Path(entry.path)
        self.retry_at.pop((entry.path, entry.size, entry.mtime_ns), None)
        outcome = self.upload(path)
        attempts = entry.attempts + 1
        if outcome.status != "failed":
            self.journal.update(entry, j.UPLOADED, job_id=outcome.job_id, blob_name=outcome.blob_name,
                                attempts=attempts, reason=None)  # fmt: skip
            self.failures, self.status.last_success_at = 0, utc_now()
            note = " (already uploaded)" if outcome.status == "already_uploaded" else ""
            log.info("uploaded %s -> %s%s (%d blocks sent, %d already staged)", path.name, outcome.job_id, note,
                     outcome.blocks_sent, outcome.blocks_skipped)  # fmt: skip
            return True
        reason = str(outcome.reason or "unknown")
        code = reason.split(":", 1)[0]
        if not path.exists() or self._changed(entry):
            self.journal.update(entry, j.GONE, reason="deleted before upload", attempts=attempts)
            log.info("%s was deleted or rewritten before it was uploaded", path.name)
            return True
        if code in PHOTO_FAULTS:
            self.journal.update(entry, j.FAILED, reason=reason, attempts=attempts)
            log.error("%s refused: %s", path.name, reason)
            return True
        if code == UNREADABLE:  # not the link's fault: the other files go on, no back-off
            self.journal.update(entry, j.PENDING, reason=reason, attempts=attempts)
            self.retry_at[(entry.path, entry.size, entry.mtime_ns)] = self.clock() + UNREADABLE_RETRY_S
            self.status.last_error = LastError(code, reason[:300], utc_now(), str(path))
            log.warning("%s could not be read (%s); next try in %.0f s", path.name, reason[:300], UNREADABLE_RETRY_S)
            return True
        self.journal.update(entry, j.PENDING, reason=reason, attempts=attempts)
        self._back_off(code, reason, str(path), asked_s=outcome.retry_after)
        return False

    def _changed(self, entry: j.Entry) -> bool:
        try:
            stat = Path(entry.path).stat()
        except FileNotFoundError:
            return True
        return (stat.st_size, stat.st_mtime_ns) != (entry.size, entry.mtime_ns)

    def _forget_vanished(self, files: dict[str, tuple[int, int]]) -> None:
        """Pending versions no longer in the folder were deleted (or rewritten) before they went out."""
        for entry in self.journal.in_state(j.PENDING):
            if files.get(entry.path) != (entry.size, entry.mtime_ns):
                self.journal.update(entry, j.GONE, reason="deleted before upload")
                log.info("%s was deleted or rewritten before it was uploaded", Path(entry.path).name)

    def _back_off(self, code: str, detail: str, path: str | None, asked_s: float | None = None) -> None:
        """Capped exponential back-off with jitter (half to all of the step), so a fleet does not retry in step;
        never shorter than the API's Retry-After (`asked_s`: the device's hourly reservation cap asks for the
        next hour, which no back-off cap may cut short)."""
        self.failures += 1
        step = min(self.settings.backoff_cap_s, self.settings.backoff_base_s * 2 ** (self.failures - 1))
        delay = max(step * (0.5 + self.jitter() / 2), min(asked_s or 0.0, LONGEST_ASKED_S))
        self.backoff_until = self.clock() + delay
        self.status.last_error = LastError(code, detail[:300], utc_now(), path)
        until = datetime.now(UTC) + timedelta(seconds=delay)
        self.status.backoff_until = until.isoformat().replace("+00:00", "Z")
        log.warning("%s; next try in %.0f s", detail[:300], delay)

    # --- jobs -------------------------------------------------------------------------------------
    def _ask_after_jobs(self) -> None:
        now, wall = self.clock(), self.journal.now()
        for entry in self.journal.in_state(j.UPLOADED, j.CONFIRMED):
            if entry.job_id is None or self.next_job_check.get(entry.job_id, 0.0) > now or _later(entry, wall):
                continue
            try:
                doc = self.job(entry.job_id)
            except OSError as exc:  # the API is down or busy: uploads will find out too
                asked = exc.retry_after if isinstance(exc, LookupRefused) else None
                self._back_off("unreachable", f"unreachable: {exc}", None, asked_s=asked)
                return
            self.failures = 0  # the API answered: the link is back, so the next failure starts the back-off afresh
            self.next_job_check[entry.job_id] = now + JOB_POLL_S
            if doc is None:
                self._not_found(entry)
            elif doc.get("state") in TERMINAL:
                self._finish(entry, doc)
            elif entry.state == j.UPLOADED:
                self.journal.update(entry, j.CONFIRMED, job_state=str(doc.get("state")))
                self._move_done(entry)

    def _finish(self, entry: j.Entry, doc: dict[str, Any]) -> None:
        duplicate = bool(doc.get("cached_from") or doc.get("cached"))
        self.journal.update(entry, j.FINISHED, job_state=str(doc["state"]), duplicate=int(duplicate))
        self.next_job_check.pop(str(entry.job_id), None)
        name = Path(entry.path).name
        if duplicate:
            source = f" of {doc['cached_from']}" if doc.get("cached_from") else ""
            log.info("%s: job %s is a duplicate%s (same bytes as an earlier photo of the site)", name,
                     entry.job_id, source)  # fmt: skip
        else:
            log.info("%s: job %s %s %s", name, entry.job_id, doc["state"], doc.get("reason") or "")
        self._move_done(entry)

    def _not_found(self, entry: j.Entry) -> None:
        """The API does not know the job: not yet (ingestion is still to record it), so it is asked again, the less
        often the longer the row has waited; or, `UNKNOWN_JOB_AFTER` after the row's last change, not ever."""
        wall = self.journal.now()
        waited = wall - entry.updated_at
        if waited < UNKNOWN_JOB_AFTER:
            look_s = max(JOB_POLL_S, min(waited.total_seconds() / 10, NOT_FOUND_LOOK_CAP_S))
            self.journal.look_later(entry, wall + timedelta(seconds=look_s))
            return
        detail = f"{UNKNOWN_JOB}: job {entry.job_id} not found {waited.days} days after the row last changed"
        self.journal.update(entry, j.UNKNOWN, reason=detail)  # the photo stays put: --move-done waits for an answer
        self.next_job_check.pop(str(entry.job_id), None)
        log.warning("%s: %s (erased or expired); no longer asked after", Path(entry.path).name, detail)

    def _move_done(self, entry: j.Entry) -> None:
        """`--move-done`: the service has the photo and its job; clear it out of the drop folder. A move refused leaves
        it there, `confirmed` or `finished` (never sent again), for a later pass, the first after a restart too."""
        now, version = self.clock(), (entry.path, entry.size, entry.mtime_ns)
        if self.settings.move_done is None or self._changed(entry) or not self._due(entry, now):
            return  # not moving, or not the version the job is of, or its move failed a moment ago
        try:
            move_into(self.settings.move_done, Path(entry.path), entry.mtime_ns)
            self.retry_at.pop(version, None)
        except OSError as exc:  # the done folder's fault, not the photo's: the other photos go on
            self.retry_at[version] = now + UNREADABLE_RETRY_S
            self.status.last_error = LastError(MOVE_FAILED, f"{MOVE_FAILED}: {exc}"[:300], utc_now(), entry.path)
            log.warning("%s was sent but could not be moved to %s (%s); it stays, next try in %.0f s",
                        Path(entry.path).name, self.settings.move_done, exc, UNREADABLE_RETRY_S)  # fmt: skip

    # --- the status file --------------------------------------------------------------------------
    def write_status(self, state: str) -> None:
        s = self.status
        s.state, s.settling = state, self.settling
        s.count(self.journal.counts())
        s.unreadable = sum(1 for entry in self.journal.in_state(j.PENDING) if _unreadable(entry))
        if state != "backing_off":
            s.backoff_until = None
        s.write(self.status_path)


def _later(entry: j.Entry, wall: datetime) -> bool:
    """The journal puts off the next look at the entry's job past `wall`. A look put off further than the longest
    wait was put off before the clock was set back: it is due now, not when the clock gets there again."""
    at = entry.next_look_at
    return at is not None and wall < at <= wall + timedelta(seconds=NOT_FOUND_LOOK_CAP_S)


def _unreadable(entry: j.Entry) -> bool:
    """A pending version whose last try could not read the file (rather than reach the service)."""
    return (entry.reason or "").split(":", 1)[0] == UNREADABLE
