"""Wire details of the Batch REST API: flat errors, timestamps, durations, ETags, paging."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import isodate  # type: ignore[import-untyped]
from aiohttp import web

STATUS = {
    "AuthenticationFailed": 403, "MissingRequiredProperty": 400, "InvalidPropertyValue": 400,
    "InvalidRequestBody": 400, "InvalidQueryParameterValue": 400, "AutoScalingFormulaSyntaxError": 400,
    "AutoScalingFormulaTooLong": 400,
    "InvalidAutoScalingSettings": 400, "ResourceNotFound": 404, "PoolNotFound": 404, "JobNotFound": 404,
    "TaskNotFound": 404, "NodeNotFound": 404, "TaskExists": 409, "JobExists": 409, "PoolExists": 409,
    "JobCompleted": 409, "TaskCompleted": 409, "PoolBeingDeleted": 409, "OperationInvalidForCurrentState": 409,
    "RequestBodyTooLarge": 413, "TooManyEnableAutoScaleRequests": 503, "InternalError": 500,
}  # fmt: skip
MESSAGES = {
    "TaskExists": "The specified task already exists.",
    "JobExists": "The specified job already exists.",
    "PoolExists": "The specified pool already exists.",
    "JobNotFound": "The specified job does not exist.",
    "PoolNotFound": "The specified pool does not exist.",
    "TaskNotFound": "The specified task does not exist.",
    "NodeNotFound": "The specified node does not exist.",
    "ResourceNotFound": "The specified resource does not exist.",
    "AuthenticationFailed": "Server failed to authenticate the request.",
}


class BatchError(Exception):
    def __init__(self, code: str, message: str | None = None, values: dict[str, str] | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.message = message or MESSAGES.get(code, code)
        self.values = values or {}

    def body(self, account_url: str) -> dict[str, Any]:
        return error_body(self.code, self.message, self.values, account_url)


def now() -> datetime:
    return datetime.now(UTC)


def stamp(at: datetime | None = None) -> str:
    return (at or now()).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")


def rfc1123(at: datetime) -> str:
    return at.strftime("%a, %d %b %Y %H:%M:%S GMT")


def duration(text: str | None) -> timedelta | None:
    """ISO 8601 durations, including the zero-padded forms the SDK sends (`PT05M00S`)."""
    if not text:
        return None
    value = isodate.parse_duration(text)
    return value if isinstance(value, timedelta) else value.totimedelta(start=now())


def error_body(code: str, message: str, values: dict[str, str], account_url: str) -> dict[str, Any]:
    text = f"{message}\nRequestId:{uuid.uuid4()}\nTime:{stamp()}"
    body: dict[str, Any] = {
        "odata.metadata": f"{account_url}/$metadata#Microsoft.Azure.Batch.Protocol.Entities.Container.errors/@Element",
        "code": code,
        "message": {"lang": "en-US", "value": text},
    }
    if values:
        body["values"] = [{"key": k, "value": v} for k, v in values.items()]
    return body


def error_response(exc: BatchError, account_url: str) -> web.Response:
    return json_response(exc.body(account_url), status=STATUS.get(exc.code, 400))


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(body).encode(),
        content_type="application/json",
        charset=None,
        headers={"request-id": str(uuid.uuid4()), **(headers or {})},
    )


def resource_headers(resource: dict[str, Any]) -> dict[str, str]:
    modified = datetime.fromisoformat(resource["lastModified"].replace("Z", "+00:00")[:26] + "+00:00")
    return {"ETag": resource["eTag"], "Last-Modified": rfc1123(modified)}


def new_etag() -> str:
    return f"0x{uuid.uuid4().hex[:15].upper()}"
