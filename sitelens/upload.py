"""Upload photos the way a field device does (the engine of `sitelens upload`, see upload_command.py).

For each photo: ask `POST /api/uploads` for its blob name and a create-only SAS, stage the photo in blocks
(each retried on its own, on top of the SDK's retry policy; a refused SAS is renewed), commit with
`If-None-Match: *` and print the job id, which the pipeline derives from the blob's name alone
(shared.jobs.ids) and the API names in its reply (`job_hint`). The commit's ETag is reported too: the job's
status document shows the ETag of the version the pipeline processed (`photo_etag`), to compare. An interrupted
upload resumes: the API lists the blocks already staged and only the others are sent (upload_progress.py).

The photo id defaults to the file's name (Unicode-normalised) and a hash of its content, so uploading a file
twice is one upload, while a copy under another name is a photo of its own (the per-site content dedupe then
completes it from the first one's result). The hash is computed in chunks and a file is loaded only within the
API's `max_bytes` (a misnamed video must not exhaust a small device's memory).
"""

from __future__ import annotations

import hashlib
import re
import sys
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.storage.blob import BlobClient, ContentSettings, ExponentialRetry
from opentelemetry.trace import SpanKind

from batch_tasks import telemetry
from shared.jobs.ids import job_id_for
from sitelens.upload_progress import MIB, Progress, Throttle, plan_blocks, staged_blocks


class Answer(NamedTuple):  # what `POST /uploads` answered
    status: int
    doc: dict[str, Any]
    retry_after: float | None = None  # the seconds its `Retry-After` asks for; None without one


Requester = Callable[[dict[str, Any]], Answer]
BlobFactory = Callable[[str], Any]
ATTEMPTS = 4  # per block, per API call, per commit
# The longest `Retry-After` the client waits out itself: a busy API asks for seconds. A longer wait (the hourly
# reservation cap asks for up to an hour) fails the photo at once with the wait, and the caller decides.
LONGEST_WAIT_S = 60.0
RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
EXTENSIONS = {".jpg": "jpg", ".jpeg": "jpg", ".png": "png"}
MAGIC = ((b"\xff\xd8\xff", "jpg"), (b"\x89PNG\r\n\x1a\n", "png"))
UNSAFE_ID = re.compile(r"[^A-Za-z0-9_-]+")
URL_QUERY = re.compile(r"\?[^\s'\"()<>]*")


class UploadFailed(Exception):
    def __init__(self, reason: str, detail: str, retry_after: float | None = None) -> None:
        wait = f" (retry after {retry_after:.0f} s)" if retry_after is not None else ""
        super().__init__(f"{reason}: {detail}{wait}")
        self.reason, self.retry_after = reason, retry_after


@dataclass
class Outcome:
    path: str
    status: str  # uploaded | already_uploaded | failed
    blob_name: str | None = None
    job_id: str | None = None
    reason: str | None = None
    blocks_sent: int = 0
    blocks_skipped: int = 0
    committed_at: str | None = None  # when this client's commit returned (ISO 8601 UTC)
    etag: str | None = None  # the ETag of this client's commit, without quotes (the job's `photo_etag`)
    retry_after: float | None = None  # a failed photo: the seconds the API asked to wait before asking again


def default_photo_id(path: Path, data: bytes) -> str:
    """`{file stem, made safe}-{16 hex of sha256(content)}`, within the API's id rule (1-64 of [A-Za-z0-9_-])."""
    return _photo_id(path, hashlib.sha256(data).hexdigest())


def _photo_id(path: Path, sha256_hex: str) -> str:
    # NFKD less combining marks: `Süd` is `Sud` whether `ü` is one code point (NFC: Linux) or two (NFD: macOS).
    plain = "".join(c for c in unicodedata.normalize("NFKD", path.stem) if not unicodedata.combining(c))
    stem = UNSAFE_ID.sub("-", plain).strip("-_")[:47]  # what is still not ASCII (or not UTF-8) becomes `-`
    return f"{stem}-{sha256_hex[:16]}" if stem else sha256_hex[:16]


def _fingerprint(path: Path) -> tuple[bytes, str]:
    """The file's first bytes and its SHA-256, read in chunks: memory does not grow with the file."""
    with path.open("rb") as handle:
        head = handle.read(max(len(magic) for magic, _ in MAGIC))
        handle.seek(0)
        return head, hashlib.file_digest(handle, "sha256").hexdigest()


def detect_ext(path: Path, data: bytes) -> str:
    for magic, ext in MAGIC:
        if data.startswith(magic):
            return ext
    if path.suffix.lower() in EXTENSIONS:
        return EXTENSIONS[path.suffix.lower()]
    raise UploadFailed("unsupported_type", "not a JPEG or PNG file")


def blob_client(url: str) -> Any:
    retry = ExponentialRetry(initial_backoff=1, increment_base=2, retry_total=3)
    return BlobClient.from_blob_url(url, retry_policy=retry, connection_timeout=20, read_timeout=60)


@dataclass
class _Photo:
    """One photo's upload in progress: the request body, the current grant and its blob client."""

    path: Path
    data: bytes
    body: dict[str, Any]
    grant: dict[str, Any]
    client: Any = None

    @property
    def name(self) -> str:
        return str(self.grant["blob_name"]).removeprefix("photos/")


class _StaleBlocks(Exception):
    """The commit named blocks the service does not have (they expired since it listed them)."""


class _AlreadyThere(Exception):
    """A blob of that name is already committed."""


class Uploader:
    def __init__(
        self,
        request: Requester,
        *,
        site: str,
        device: str,
        block_size: int = 4 * MIB,
        blob_factory: BlobFactory = blob_client,
        progress: Progress | None = None,
        sleep: Callable[[float], None] = time.sleep,
        bytes_per_s: float | None = None,
        longest_wait_s: float = LONGEST_WAIT_S,  # the field agent's is 0: it waits between passes, stoppably
    ) -> None:
        self.request, self.site, self.device, self.longest_wait_s = request, site, device, longest_wait_s
        self.block_size, self.blob_factory, self.sleep = block_size, blob_factory, sleep
        self.progress = progress or Progress(sys.stderr, enabled=False)
        self.throttle = Throttle(bytes_per_s, sleep) if bytes_per_s else None

    def upload(self, path: Path, photo_id: str | None = None, label: str | None = None) -> Outcome:
        # The photo's trace starts here; its traceparent travels in the blob's metadata (docs/telemetry.md).
        attributes = {"sitelens.site": self.site, "sitelens.device": self.device}
        with telemetry.tracer().start_as_current_span("upload", kind=SpanKind.PRODUCER, attributes=attributes) as span:
            outcome = self._outcome(path, photo_id, label)
            span.set_attributes({"sitelens.outcome": outcome.status, "sitelens.job_id": outcome.job_id or ""})
            if outcome.status == "failed":
                telemetry.fail(span, outcome.reason or "failed")
            return outcome

    def _outcome(self, path: Path, photo_id: str | None, label: str | None) -> Outcome:
        try:
            return self._upload(path, photo_id, label or path.name)
        except UploadFailed as exc:
            return Outcome(str(path), "failed", reason=str(exc), retry_after=exc.retry_after)
        except OSError as exc:
            return Outcome(str(path), "failed", reason=f"unreadable: {exc}")
        finally:
            self.progress.finish()

    def _upload(self, path: Path, photo_id: str | None, label: str) -> Outcome:
        size = path.stat().st_size
        head, digest = _fingerprint(path)
        ext = detect_ext(path, head)
        body = {"site_id": self.site, "device_id": self.device,
                "photo_id": photo_id or _photo_id(path, digest), "ext": ext}  # fmt: skip
        grant = self._grant(body)
        name = str(grant["blob_name"]).removeprefix("photos/")
        job_id = str(grant.get("job_hint") or job_id_for(name))
        outcome = Outcome(str(path), "uploaded", name, job_id)
        if grant.get("uploaded"):
            return Outcome(str(path), "already_uploaded", name, job_id)
        # The limit the service names now (an operator may raise it): checked before the file is loaded.
        limit = int(grant.get("max_bytes") or 0)
        if limit and size > limit:
            raise UploadFailed("too_large", f"{size} bytes; the service accepts at most {limit}")
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != digest:  # rewritten since it was hashed: the id would not match
            raise UploadFailed("unreadable", "the file changed while it was being read")
        photo = _Photo(path, data, body, grant)
        try:
            etag = self._send(photo, outcome, label)
        except _AlreadyThere:  # committed before (perhaps by us, with the reply lost): the same job either way
            outcome.status = "already_uploaded"
            return outcome
        outcome.etag, outcome.committed_at = etag.strip('"'), datetime.now(UTC).isoformat()
        return outcome

    def _send(self, photo: _Photo, outcome: Outcome, label: str) -> str:
        """Stage the blocks the service does not hold yet, then commit; returns the committed blob's ETag."""
        blocks = plan_blocks(photo.data, self.block_size)
        for restage in (False, True):
            staged = {} if restage else staged_blocks(photo.grant)
            outcome.blocks_sent = outcome.blocks_skipped = 0
            self.progress.start(label, len(photo.data))
            for block in blocks:
                if staged.get(block.id) == block.size:
                    outcome.blocks_skipped += 1
                else:
                    self._stage(photo, block.id, photo.data[block.start : block.end])
                    outcome.blocks_sent += 1
                self.progress.advance(block.size)
            try:
                return str(self._retry(photo, lambda: self._commit(photo, [b.id for b in blocks])))
            except _StaleBlocks:
                if restage:
                    raise UploadFailed("invalid_block_list", "the service refused the staged blocks twice") from None
        raise AssertionError("unreachable")

    def _stage(self, photo: _Photo, block_id: str, chunk: bytes) -> None:
        if self.throttle is not None:
            self.throttle.take(len(chunk))
        # validate_content sends the block's MD5, so the service refuses a block damaged on the way.
        self._retry(photo, lambda: self._client(photo).stage_block(block_id, chunk, validate_content=True))

    def _client(self, photo: _Photo) -> Any:
        if photo.client is None:
            photo.client = self.blob_factory(str(photo.grant["upload_url"]))
        return photo.client

    def _commit(self, photo: _Photo, block_ids: list[str]) -> str:
        settings = ContentSettings(content_type=str(photo.grant.get("content_type") or "application/octet-stream"))
        traceparent = telemetry.current_traceparent()
        metadata = {"traceparent": traceparent} if traceparent else None
        try:
            response = self._client(photo).commit_block_list(block_ids, content_settings=settings, if_none_match="*",
                                                             metadata=metadata)  # fmt: skip
        except (ResourceExistsError, ResourceModifiedError) as exc:  # 409 BlobAlreadyExists, or 412
            raise _AlreadyThere from exc
        except HttpResponseError as exc:
            if exc.status_code == 400 and getattr(exc, "error_code", None) == "InvalidBlockList":
                raise _StaleBlocks from exc
            raise
        return str(response["etag"])

    # --- bounded retries --------------------------------------------------------------------------
    def _grant(self, body: dict[str, Any]) -> dict[str, Any]:
        """`POST /uploads`; 429, 5xx and connection failures are retried after the wait the API asks for (else a
        back-off), other answers are final. A wait over `longest_wait_s` fails at once, carrying the wait."""
        answer = Answer(0, {})
        for attempt in range(ATTEMPTS):
            if attempt:  # as long as the API asked (not less), else the client's own back-off
                self.sleep(min(2.0**attempt, 10.0) if answer.retry_after is None else answer.retry_after)
            try:
                answer = self.request(body)
            except OSError as exc:
                answer = Answer(0, {"reason": "unreachable", "detail": str(exc)})
                continue
            if answer.status in (200, 201):
                return answer.doc
            if answer.status not in RETRYABLE_STATUS or (answer.retry_after or 0.0) > self.longest_wait_s:
                break
        status, doc, asked = answer  # a final refusal's Retry-After (on a 400, say) asks nothing of the client
        raise UploadFailed(str(doc.get("reason") or f"http_{status}"), str(doc.get("detail") or doc),
                           asked if status in RETRYABLE_STATUS else None)  # fmt: skip

    def _retry(self, photo: _Photo, step: Callable[[], Any]) -> Any:
        """Run one storage step; transient failures are retried and a refused SAS is renewed."""
        for attempt in range(ATTEMPTS):
            if attempt:
                self.sleep(min(2.0**attempt, 10.0))
            try:
                return step()
            except (_StaleBlocks, _AlreadyThere):
                raise
            except (ServiceRequestError, ServiceResponseError) as exc:  # the connection failed
                failure = UploadFailed("unreachable", _first_line(exc))
            except HttpResponseError as exc:  # ClientAuthenticationError included
                failure = UploadFailed(f"storage_{exc.status_code}", _first_line(exc))
                if exc.status_code in (401, 403) and attempt + 1 < ATTEMPTS:
                    # The SAS expired (a slow link) or the clocks disagree: ask for a fresh one.
                    photo.grant, photo.client = self._grant(photo.body), None
                    if photo.grant.get("uploaded"):
                        raise _AlreadyThere from exc
                elif exc.status_code not in RETRYABLE_STATUS:
                    raise failure from exc
        raise failure


def _first_line(exc: BaseException) -> str:
    """The message's first line, without any URL query: a connection error names the URL, SAS and all."""
    line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return URL_QUERY.sub("?...", line)
