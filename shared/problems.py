"""RFC 9457 problem documents: every API error, with the reason code from docs/reason-codes.md."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from shared.errors import Conflict, InvalidInput, NotFound, PermanentError, SitelensError, TransientError

MEDIA_TYPE = "application/problem+json"


def media_type(status: int) -> str:
    """Errors are problem documents (RFC 9457 §3), replies plain JSON."""
    return MEDIA_TYPE if status >= 400 else "application/json"


def problem(status: int, reason: str, detail: str) -> dict[str, Any]:
    return {
        "type": f"https://github.com/sitelens/sitelens/blob/main/docs/reason-codes.md#{reason}",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "reason": reason,
    }


def status_for(exc: SitelensError) -> int:
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, Conflict):
        return 409
    if isinstance(exc, InvalidInput):
        return 400
    if isinstance(exc, TransientError):
        return 503
    if isinstance(exc, PermanentError):
        return 422
    return 500


def from_error(exc: SitelensError) -> tuple[int, dict[str, Any]]:
    status = status_for(exc)
    return status, problem(status, exc.reason, str(exc))
