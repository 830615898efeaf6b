"""The status API, independent of the HTTP framework: a request in, a `Reply` out.

`GET /jobs/{id}` answers with an ETag, 304 for a matching If-None-Match, and `Retry-After` while the job is
not terminal. Every query parameter and body member the API reads is checked by type and size first; errors
are problem documents.

A 304 tells a client to keep the links it holds, so the ETag of a job with links changes as they age: it
names the `LINK_WINDOW` the answer falls in (time cut into fixed windows), and the links answered in a window
live until its end plus `LINK_TTL`. Any answer, 200 or 304, thus leaves the client holding links valid for at
least `LINK_TTL`, at most `LINK_TTL + LINK_WINDOW`; the next window's first request gets a 200 with new ones.
The tag is weak (RFC 9110 §8.8.1): two answers under it carry the same job, their links signed apart.

A succeeded job outlives its result: the storage lifecycle rule deletes `results/` (result and overlay)
`results_kept` after they are written, while the job's row, summary included, stays. Such a job answers
without links, its `result.expired` a problem document (410 `result_expired`), rather than links to nothing.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from shared import paging, problems, request_body
from shared.errors import InvalidInput, SitelensError, TransientError
from shared.http_reply import Reply
from shared.jobs import document, feedback, ids, ingestion
from shared.jobs.models import Job, JobState
from shared.jobs.ports import JobStore, PhotoStore
from shared.jobs.reuse import REUSE_MARGIN
from shared.uploads.naming import ID

log = logging.getLogger(__name__)
RETRY_AFTER_S = 5
DEFAULT_PAGE = 50
FEEDBACK_FIELDS = feedback.ALL_FIELDS  # which a job takes depends on its kind (shared/jobs/feedback.py)
# The three strings at their longest, each character \u-escaped (6 bytes), fit well within this; so do the
# most boxes (200) a detection's correction holds, with short labels and plain coordinates. The store keeps
# whatever body this lets through whole (shared/adapters/azure_feedback_store.py, FEEDBACK_PART_CHARS).
MAX_FEEDBACK_BODY = 64 * 1024
MAX_SINCE_CHARS = 64  # an RFC 3339 time is about 32 characters
LINK_WINDOW = timedelta(minutes=5)  # how often a job's ETag turns over while it has links
ENTITY_TAG = re.compile(r'(?:W/)?("[^"]*")')  # one entity-tag of an If-None-Match list, weak or strong
RFC3339 = re.compile(r"(\d{4})-(\d\d)-(\d\d)[Tt](\d\d):(\d\d):(\d\d)(\.\d+)?([Zz]|[+-]\d\d:\d\d)", re.ASCII)


class JobsApi:
    def __init__(self, store: JobStore, photos: PhotoStore, retry: Callable[[Job], Job],
                 results_kept: timedelta | None = None, clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 ) -> None:  # fmt: skip
        self.store, self.photos, self.retry = store, photos, retry
        self.results_kept, self.clock = results_kept, clock  # None: results are never deleted
        self.links = document.ResultLinks(photos)

    def handle(self, action: str, params: Mapping[str, str], query: Mapping[str, str], headers: Mapping[str, str],
               body: bytes) -> Reply:  # fmt: skip
        try:
            if action == "get":
                return self._get(params["id"], headers)
            if action == "list":
                return self._list(query)
            if action == "retry":
                return self._retry(params["id"])
            if action == "feedback":
                return self._feedback(params["id"], body)
            raise InvalidInput(f"unknown action {action}", reason="unknown_action")
        except SitelensError as exc:
            return Reply.error(exc)

    def _job(self, job_id: str) -> Job:
        return self.store.get(_checked_id(job_id))

    def _get(self, job_id: str, headers: Mapping[str, str]) -> Reply:
        job = self._job(job_id)
        expired = self._result_expired(job)
        now = self.clock()
        window = _window(now) if document.has_links(job) and not expired else None
        etag = _etag(job, expired=expired, window=window)
        extra = {"ETag": etag, "Cache-Control": document.LINKS_CACHE_CONTROL}
        if not job.terminal:
            extra["Retry-After"] = str(RETRY_AFTER_S)
        if _matches(_header(headers, "if-none-match"), etag):
            return Reply(304, None, extra)
        if window is not None:  # each link lives to the window's end plus LINK_TTL (see above)
            ttl = _window_end(window) - now + document.LINK_TTL
            return Reply(200, document.public(job, self.links(job, ttl)), extra)
        if not expired:
            return Reply(200, document.public(job), extra)
        doc = document.public(job)  # no links: they would lead to nothing
        kept = self.results_kept.days if self.results_kept else 0
        detail = f"the result document and overlay are no longer stored (kept {kept} days after they are written)"
        doc["result"]["expired"] = problems.problem(410, "result_expired", detail)
        return Reply(200, doc, extra)

    def _result_expired(self, job: Job) -> bool:
        """Whether a succeeded job's result is gone. Storage is asked only once it may be: the lifecycle rule
        deletes a result `results_kept` after it is written, and a job's own result is written after the job
        was received (its task is submitted only then), so it stays at least that long from `received_at`.
        Not from `finished_at` (a completion processed late, from a backlog or by the reconciler, comes hours
        after the write) nor `started_at` (a job may never record it; the app stamps it when it sees the task
        run). A cached job's result is its owner's, reused only while it stays `REUSE_MARGIN` past the reuse,
        which came after this job's receipt: so it stays at least that margin from `received_at`."""
        if self.results_kept is None or job.state is not JobState.SUCCEEDED or not job.result_path:
            return False
        surely_kept = REUSE_MARGIN if job.cached_from else self.results_kept
        if self.clock() < job.received_at + surely_kept:
            return False
        try:  # its properties, not its bytes: the overlay is written with it and expires with it
            return not self.photos.result_exists(job.result_path)
        except TransientError as exc:
            # The check decides only whether links are shown: storage failing it answers them as before the
            # check existed, not a 503 for the whole job. The next GET asks again, and an expiry found then
            # changes the ETag, so no 304 hides it.
            log.warning("job %s: could not tell whether its result is still stored (%s); links answered", job.id, exc)
            return False

    def _list(self, query: Mapping[str, str]) -> Reply:
        site = query.get("site")
        if not site:
            raise InvalidInput("'site' is required", reason="missing_site")
        # Besides the ids, exactly the site that jobs of blobs the upload API never issued are filed under: an
        # operator lists those there, and no id can be it.
        if not ID.fullmatch(site) and site != ingestion.UNKNOWN:
            raise InvalidInput(
                f"'site' must be 1-64 ASCII letters, digits, '_' or '-', starting with a letter or digit, or "
                f"'{ingestion.UNKNOWN}'",
                reason="invalid_site",
            )
        jobs, next_token = self.store.list_site(
            site,
            state=_state(query),
            since=_since(query),
            limit=paging.limit(query.get("limit"), DEFAULT_PAGE),
            token=paging.position(query.get("continuation")),
        )
        doc: dict[str, Any] = {"jobs": [document.public(j) for j in jobs], "continuation": paging.token(next_token)}
        return Reply(200, doc)

    def _retry(self, job_id: str) -> Reply:
        job = self._job(job_id)
        if job.state is not JobState.FAILED:
            raise InvalidInput(f"only FAILED jobs can be retried; this one is {job.state}", reason="not_failed")
        again = self.retry(job)
        return Reply(202, document.public(again), {"Location": f"/api/jobs/{again.id}"})

    def _feedback(self, job_id: str, body: bytes) -> Reply:
        job_id = _checked_id(job_id)
        doc = request_body.json_object(body, max_bytes=MAX_FEEDBACK_BODY)  # the body first: no read for junk
        kept = feedback.read(doc)
        feedback.check_for(self.store.get(job_id), kept)  # NotFound for an unknown job
        feedback_id = self.store.add_feedback(job_id, kept, datetime.now(UTC))  # the same feedback: the same id
        return Reply(201, {"id": feedback_id, "job_id": job_id, **kept})


def _checked_id(job_id: str) -> str:
    if not ids.is_job_id(job_id):
        raise InvalidInput(f"{job_id[:80]!r} is not a job id", reason="bad_job_id")
    return job_id


def _header(headers: Mapping[str, str], name: str) -> str:
    return next((v for k, v in headers.items() if k.lower() == name), "")


def _window(at: datetime) -> int:
    return int(at.timestamp() // LINK_WINDOW.total_seconds())


def _window_end(window: int) -> datetime:
    return datetime.fromtimestamp((window + 1) * LINK_WINDOW.total_seconds(), UTC)


def _etag(job: Job, *, expired: bool, window: int | None) -> str:
    """`W/"{state}-{digest}"`: the digest covers the row's version (Table storage's own ETag, itself quoted, so
    never copied into the tag), whether the result expired (a client holding the links' tag learns they are
    gone) and the links' window."""
    version = f"{job.etag}|{'expired' if expired else 'kept'}|{'' if window is None else window}"
    return f'W/"{job.state.value}-{hashlib.sha256(version.encode()).hexdigest()[:16]}"'


def _matches(if_none_match: str, etag: str) -> bool:
    """RFC 9110 §13.1.2: `*`, or a listed tag equal to ours by weak comparison (a `W/` on either side ignored)."""
    if if_none_match.strip() == "*":
        return True
    ours = ENTITY_TAG.fullmatch(etag)
    return ours is not None and ours[1] in (found[1] for found in ENTITY_TAG.finditer(if_none_match))


def _state(query: Mapping[str, str]) -> JobState | None:
    if "status" in query:  # a likely guess at the name; ignored, it would answer every job as if filtered
        raise InvalidInput("'status' is not a parameter here: the state filter is 'state'", reason="bad_query")
    text = query.get("state")
    if text is None:  # present but empty is a value the schema refuses, never "no filter"
        return None
    try:
        return JobState(text)  # as openapi.json spells it: one spelling per state
    except ValueError as exc:
        raise InvalidInput(
            f"'state' must be one of {', '.join(s.value for s in JobState)}", reason="bad_query"
        ) from exc


def _since(query: Mapping[str, str]) -> datetime | None:
    text = query.get("since")
    if text is None:  # present but empty is not a time, never "from the start"
        return None
    since = _rfc3339(text) if len(text) <= MAX_SINCE_CHARS else None
    if since is None:
        # A '+' sent unencoded arrives as a space (a query decodes '+' so): where one took an offset's sign, say so.
        plus = " " in text and len(text) <= MAX_SINCE_CHARS and _rfc3339(text.replace(" ", "+")) is not None
        hint = "; a '+' in a query must be sent as %2B (this one has a space where its offset's sign belongs)"
        raise InvalidInput("'since' must be an RFC 3339 date-time (e.g. 2026-11-22T08:00:00Z)" + (hint if plus else ""),
                           reason="bad_query")  # fmt: skip
    return since


def _rfc3339(text: str) -> datetime | None:
    """openapi.json's `format: date-time`, which is RFC 3339's (lowercase t and z included), in UTC; None if not one.

    Not `datetime.fromisoformat`: it reads ISO 8601's other forms too (basic, week dates, no seconds), which the
    contract does not offer. A leap second (23:59:60 in UTC) reads as the last instant before it."""
    match = RFC3339.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(match[i]) for i in range(1, 7))
    micro = int((match[7] or ".")[1:7].ljust(6, "0"))
    zone = match[8].upper()
    sign, zh, zm = (1, 0, 0) if zone == "Z" else (1 if zone[0] == "+" else -1, int(zone[1:3]), int(zone[4:6]))
    offset = sign * (zh * 60 + zm)
    leap = second == 60 and (hour * 60 + minute - offset) % (24 * 60) == 23 * 60 + 59
    if (second == 60 and not leap) or zh > 23 or zm > 59:
        return None
    try:
        stamp = datetime(year, month, day, hour, minute, 59 if leap else second, 999999 if leap else micro,
                         tzinfo=timezone(timedelta(minutes=offset)))  # fmt: skip
        # In UTC here, so a time at the calendar's edge (0001-01-01T00:00:00+05:00) is refused, not overflowed later.
        return stamp.astimezone(UTC)
    except (ValueError, OverflowError):
        return None
