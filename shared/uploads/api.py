"""The uploads API, independent of the HTTP framework: JSON in, a `Reply` (JSON or problem document) out.

`POST /api/uploads` `{"site_id", "device_id", "photo_id", "ext"?, "content_type"?}` →
201 (a new reservation) or 200 (a repeat) with `{"blob_name", "upload_url", "expires_at", "content_type",
"uploaded", "job_hint", "max_bytes", "staged_blocks"}`. Errors are RFC 9457 problem documents with a reason code:
400 `invalid_json`, `invalid_site_id`, `invalid_device_id`, `invalid_photo_id`, `unsupported_type`,
`type_mismatch`; 409 `photo_id_conflict`; 429 `too_many_reservations` with `Retry-After` (the device's new
reservations this hour are at the cap); 503 when storage is unavailable (retry). Members other than these
five are ignored.
"""

from __future__ import annotations

import logging
import math

from shared import request_body
from shared.errors import SitelensError
from shared.http_reply import Reply
from shared.uploads import naming
from shared.uploads.service import TOO_MANY_RESERVATIONS, UploadRequest, UploadService, retry_after

log = logging.getLogger(__name__)
MAX_BODY = 4096  # the request is four short strings


def parse(raw: bytes) -> UploadRequest:
    """The request, or InvalidInput with the reason code of the first rule it breaks."""
    doc = request_body.json_object(raw, max_bytes=MAX_BODY)
    ext, _ = naming.media(doc.get("ext"), doc.get("content_type"))
    return UploadRequest(
        site_id=naming.check_id(doc.get("site_id"), "site_id"),
        device_id=naming.check_id(doc.get("device_id"), "device_id"),
        photo_id=naming.check_id(doc.get("photo_id"), "photo_id"),
        ext=ext,
    )


def handle(service: UploadService, raw_body: bytes) -> Reply:
    """`POST /uploads`; every sitelens error becomes a problem document with its status and reason."""
    try:
        grant = service.request(parse(raw_body))
    except SitelensError as exc:
        if exc.reason == TOO_MANY_RESERVATIONS:  # throttling, not a refusal for good: the next hour is free again
            wait = max(1, math.ceil(retry_after(service.clock()).total_seconds()))
            return Reply.problem(429, exc.reason, str(exc), {"Retry-After": str(wait)})
        reply = Reply.error(exc)
        if reply.status >= 500:
            log.warning("upload request failed: %s", exc)
        return reply
    return Reply(201 if grant.created else 200, grant.public())
