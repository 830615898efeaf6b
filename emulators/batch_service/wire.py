"""Wire details of the Batch REST API: flat errors, timestamps, durations, ETags, response headers.

Error bodies are flat (`code`, `message: {lang, value}`, `values: [{key, value}]`), never wrapped in
`odata.error`: the SDK reads `code` from the top level, and a wrapped body leaves `e.error.code` empty.
Messages are the service's own where the status-code table gives them.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import isodate  # type: ignore[import-untyped]
from aiohttp import web

CONTENT_TYPE = "application/json;odata=minimalmetadata"
INFINITE = "P10675199DT2H48M5.4775807S"  # .NET TimeSpan.MaxValue: how the service writes "unlimited"
_INFINITE_AFTER = timedelta(days=10_000_000)
ERROR_METADATA = "Microsoft.Azure.Batch.Protocol.Entities.Container.errors/@Element"

STATUS = {
    "ConditionNotMet": 412,  # 304 on reads: see `BatchError.status`
    "MissingRequiredProperty": 400, "InvalidPropertyValue": 400, "InvalidRequestBody": 400,
    "MissingRequiredQueryParameter": 400, "InvalidQueryParameterValue": 400, "InvalidUri": 400,
    "InvalidHeaderValue": 400, "AutoScalingFormulaSyntaxError": 400, "AutoScalingFormulaTooLong": 400,
    "InvalidAutoScalingSettings": 400,
    "AuthenticationFailed": 403,
    "ResourceNotFound": 404, "PoolNotFound": 404, "JobNotFound": 404, "TaskNotFound": 404, "NodeNotFound": 404,
    "TaskExists": 409, "JobExists": 409, "PoolExists": 409, "JobCompleted": 409, "JobNotActive": 409,
    "JobBeingDeleted": 409, "JobBeingTerminated": 409, "TaskCompleted": 409, "PoolBeingDeleted": 409,
    "PoolBeingResized": 409, "OperationInvalidForCurrentState": 409, "ActiveJobAndScheduleQuotaReached": 409,
    "RequestBodyTooLarge": 413,
    "InternalError": 500,
    "TooManyEnableAutoScaleRequests": 503,
}  # fmt: skip
MESSAGES = {
    "ConditionNotMet": "The condition specified using HTTP conditional header(s) is not met.",
    "MissingRequiredProperty": "A required property was not specified in the request body.",
    "InvalidPropertyValue": "The value provided for one of the properties in the request body is invalid.",
    "InvalidRequestBody": "The specified Request Body is not syntactically valid.",
    "MissingRequiredQueryParameter": "A required query parameter was not specified for this request.",
    "InvalidQueryParameterValue": "Value for one of the query parameters specified in the request URI is invalid.",
    "InvalidUri": "The requested URI does not represent any resource on the server.",
    "InvalidHeaderValue": "The value for one of the HTTP headers is not in the correct format.",
    "AuthenticationFailed": "Server failed to authenticate the request. Make sure the value of Authorization header "
    "is formed correctly including the signature.",
    "ResourceNotFound": "The specified resource does not exist.",
    "PoolNotFound": "The specified pool does not exist.",
    "JobNotFound": "The specified job does not exist.",
    "TaskNotFound": "The specified task does not exist.",
    "NodeNotFound": "The specified node does not exist.",
    "TaskExists": "The specified task already exists.",
    "JobExists": "The specified job already exists.",
    "PoolExists": "The specified pool already exists.",
    "JobCompleted": "The specified job is already in a completed state.",
    "JobNotActive": "The specified job is not in an active state.",
    "TaskCompleted": "The specified task is already in a completed state.",
    "PoolBeingDeleted": "The specified pool has been marked for deletion and is being reclaimed.",
    "PoolBeingResized": "The specified pool is currently being resized.",
    "ActiveJobAndScheduleQuotaReached": "The specified account has reached the maximum number of active jobs and "
    "job schedules.",
    "RequestBodyTooLarge": "The request body is too large and exceeds the maximum permissible limit.",
    "TooManyEnableAutoScaleRequests": "The number of requests to enable autoscale on the pool exceeded the limit; "
    "requests must be at least 30 seconds apart.",
    "InternalError": "The server encountered an internal error. Please retry the request.",
}


class BatchError(Exception):
    """An error answered to the client: raised anywhere in a handler, rendered by the app's middleware."""

    def __init__(
        self, code: str, message: str | None = None, values: dict[str, str] | None = None, *, status: int | None = None
    ) -> None:
        super().__init__(code)
        self.code = code
        self.message = message or MESSAGES.get(code, code)
        self.values = values or {}
        self.status = status or STATUS.get(code, 400)

    def body(self, account_url: str) -> dict[str, Any]:
        text = f"{self.message}\nRequestId:{uuid.uuid4()}\nTime:{stamp()}"
        body: dict[str, Any] = {
            "odata.metadata": f"{account_url}/$metadata#{ERROR_METADATA}",
            "code": self.code,
            "message": {"lang": "en-US", "value": text},
        }
        if self.values:
            body["values"] = [{"key": k, "value": v} for k, v in self.values.items()]
        return body


def missing(name: str) -> BatchError:
    return BatchError("MissingRequiredProperty", values={"PropertyName": name})


def invalid(name: str, reason: str) -> BatchError:
    return BatchError("InvalidPropertyValue", values={"PropertyName": name, "Reason": reason})


# --- time -------------------------------------------------------------------------------------------
def now() -> datetime:
    return datetime.now(UTC)


def stamp(at: datetime | None = None) -> str:
    """RFC 3339 with 7 fractional digits, as the service writes times."""
    return (at or now()).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")


def parse_stamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")[:26] + "+00:00")


def rfc1123(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")


def duration(text: object, name: str = "duration") -> timedelta | None:
    """ISO 8601 durations, including the zero-padded forms the SDK sends (`PT05M00S`)."""
    if text is None or text == "":
        return None
    try:
        value = isodate.parse_duration(str(text))
    except (isodate.ISO8601Error, ValueError) as exc:
        raise invalid(name, f"'{text}' is not an ISO 8601 duration") from exc
    result = value if isinstance(value, timedelta) else value.totimedelta(start=now())
    if result < timedelta(0):
        raise invalid(name, "a duration cannot be negative")
    return result


def duration_text(value: timedelta) -> str:
    """The service's spelling: `PT5M`, `P7D`, `PT0S`, and TimeSpan.MaxValue for unlimited."""
    if value >= _INFINITE_AFTER:
        return INFINITE
    if not value:
        return "PT0S"
    text: str = isodate.duration_isoformat(value)
    return text


def normalized(text: object, name: str) -> str | None:
    """A duration from a request, checked and respelt as the service returns it."""
    value = duration(text, name)
    return None if value is None else duration_text(value)


# --- responses --------------------------------------------------------------------------------------
def new_etag() -> str:
    return f"0x{uuid.uuid4().hex[:15].upper()}"


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(body).encode(),
        headers={"Content-Type": CONTENT_TYPE, "request-id": str(uuid.uuid4()), **(headers or {})},
    )


def empty_response(status: int, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, headers={"request-id": str(uuid.uuid4()), **(headers or {})})


def error_response(exc: BatchError, account_url: str) -> web.Response:
    if exc.status == 304:  # Not Modified carries no body
        return empty_response(304)
    return json_response(exc.body(account_url), status=exc.status)


def resource_headers(resource: dict[str, Any]) -> dict[str, str]:
    return {"ETag": resource["eTag"], "Last-Modified": rfc1123(parse_stamp(resource["lastModified"]))}
