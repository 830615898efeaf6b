"""The status API, independent of the HTTP framework: a request in, a `Reply` out.

`GET /jobs/{id}` answers with an ETag (the store's version and state, not the links, which are re-signed on
every call), 304 for a matching If-None-Match, and `Retry-After` while the job is not terminal.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from shared import problems
from shared.errors import InvalidInput, SitelensError
from shared.jobs import document, ids
from shared.jobs.models import Job, JobState
from shared.jobs.ports import JobStore, PhotoStore

LINK_TTL = timedelta(minutes=15)
RETRY_AFTER_S = 5
MAX_PAGE = 100
FEEDBACK_FIELDS = {"label": 200, "text": 4000, "note": 2000}


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict[str, Any] | None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def media_type(self) -> str:
        return problems.MEDIA_TYPE if self.status >= 400 else "application/json"


class JobsApi:
    def __init__(self, store: JobStore, photos: PhotoStore, retry: Callable[[Job], Job]) -> None:
        self.store, self.photos, self.retry = store, photos, retry

    def links(self, job: Job) -> dict[str, str]:
        if job.state is not JobState.SUCCEEDED or not job.result_path:
            return {}
        folder = job.result_path.rsplit("/", 1)[0]
        return {
            "result": self.photos.read_link("results", job.result_path, LINK_TTL),
            "overlay": self.photos.read_link("results", f"{folder}/overlay.jpg", LINK_TTL),
        }

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
            status, doc = problems.from_error(exc)
            return Reply(status, doc)

    def _job(self, job_id: str) -> Job:
        if not ids.is_job_id(job_id):
            raise InvalidInput(f"{job_id!r} is not a job id", reason="bad_job_id")
        return self.store.get(job_id)

    def _get(self, job_id: str, headers: Mapping[str, str]) -> Reply:
        job = self._job(job_id)
        etag = f'"{job.state.value}-{(job.etag or "").strip(chr(34))}"'
        extra = {"ETag": etag, "Cache-Control": "no-cache"}
        if not job.terminal:
            extra["Retry-After"] = str(RETRY_AFTER_S)
        wanted = {h.strip() for h in _header(headers, "if-none-match").split(",") if h.strip()}
        if etag in wanted or "*" in wanted:
            return Reply(304, None, extra)
        return Reply(200, document.public(job, self.links(job)), extra)

    def _list(self, query: Mapping[str, str]) -> Reply:
        site = query.get("site")
        if not site:
            raise InvalidInput("'site' is required", reason="missing_site")
        state_text = query.get("state") or query.get("status")
        try:
            state = JobState(state_text.upper()) if state_text else None
            since = datetime.fromisoformat(query["since"].replace("Z", "+00:00")) if query.get("since") else None
            limit = min(int(query.get("limit", "50")), MAX_PAGE)
        except ValueError as exc:
            raise InvalidInput(f"bad query: {exc}", reason="bad_query") from exc
        if since is not None and since.tzinfo is None:
            raise InvalidInput("'since' needs a time zone (e.g. Z)", reason="bad_query")
        if limit < 1:
            raise InvalidInput("'limit' must be at least 1", reason="bad_query")
        token = _untoken(query.get("continuation"))
        jobs, next_token = self.store.list_site(site, state=state, since=since, limit=limit, token=token)
        doc: dict[str, Any] = {"jobs": [document.public(j) for j in jobs], "continuation": _token(next_token)}
        return Reply(200, doc)

    def _retry(self, job_id: str) -> Reply:
        job = self._job(job_id)
        if job.state is not JobState.FAILED:
            raise InvalidInput(f"only FAILED jobs can be retried; this one is {job.state}", reason="not_failed")
        again = self.retry(job)
        return Reply(202, document.public(again), {"Location": f"/api/jobs/{again.id}"})

    def _feedback(self, job_id: str, body: bytes) -> Reply:
        job = self._job(job_id)
        try:
            doc = json.loads(body or b"{}")
        except ValueError as exc:
            raise InvalidInput("the body is not JSON", reason="invalid_json") from exc
        if not isinstance(doc, dict) or not any(k in doc for k in FEEDBACK_FIELDS):
            raise InvalidInput(f"give at least one of {sorted(FEEDBACK_FIELDS)}", reason="bad_feedback")
        kept: dict[str, Any] = {}
        for key, cap in FEEDBACK_FIELDS.items():
            value = doc.get(key)
            if value is None:
                continue
            if not isinstance(value, str) or len(value) > cap:
                raise InvalidInput(f"'{key}' must be a string of at most {cap} characters", reason="bad_feedback")
            kept[key] = value
        feedback_id = self.store.add_feedback(job.id, kept, datetime.now(UTC))
        return Reply(201, {"id": feedback_id, "job_id": job.id, **kept})


def _header(headers: Mapping[str, str], name: str) -> str:
    return next((v for k, v in headers.items() if k.lower() == name), "")


def _token(value: str | None) -> str | None:
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=") if value else None


def _untoken(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
    except ValueError as exc:
        raise InvalidInput("bad continuation token", reason="bad_query") from exc
