"""HTTP requests read and responses written in the shapes the Batch service uses.

Conditional headers (`If-Match`, `If-None-Match`, `If-Modified-Since`, `If-Unmodified-Since`) are honoured
on single resources: a read whose condition fails is 304, a write is 412 `ConditionNotMet`.
"""

from __future__ import annotations

import json
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from aiohttp import web

from emulators.batch_service import odata
from emulators.batch_service.wire import (
    BatchError,
    empty_response,
    json_response,
    parse_stamp,
    resource_headers,
)

if TYPE_CHECKING:
    from emulators.batch_service.app import Service

Doc = dict[str, Any]
SERVICE: web.AppKey[Service] = web.AppKey("batch_service")


def service_of(request: web.Request) -> Service:
    return request.app[SERVICE]


async def body_of(request: web.Request) -> Doc:
    raw = await request.read()
    try:
        doc = json.loads(raw or b"{}")
    except ValueError as exc:
        raise BatchError("InvalidRequestBody", values={"Reason": f"not JSON: {exc}"}) from exc
    if not isinstance(doc, dict):
        raise BatchError("InvalidRequestBody", values={"Reason": "the body must be a JSON object"})
    return doc


def check_conditions(request: web.Request, doc: Doc, *, read: bool) -> None:
    """Raise ConditionNotMet (304 on reads, 412 on writes) when a conditional header does not hold."""
    headers = request.headers
    etag = doc.get("eTag")
    modified = parse_stamp(doc["lastModified"]).replace(microsecond=0) if "lastModified" in doc else None
    failed = False
    if (match := headers.get("If-Match")) is not None:
        failed |= match != "*" and etag not in _etags(match)
    if (none_match := headers.get("If-None-Match")) is not None:
        failed |= none_match == "*" or etag in _etags(none_match)
    if modified is not None and (since := _date(headers.get("If-Modified-Since"))) is not None:
        failed |= modified <= since
    if modified is not None and (unmodified := _date(headers.get("If-Unmodified-Since"))) is not None:
        failed |= modified > unmodified
    if failed:
        raise BatchError("ConditionNotMet", status=304 if read else 412)


def _etags(header: str) -> set[str]:
    return {tag.strip().strip('"') for tag in header.split(",")}


def _date(value: str | None) -> Any:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError) as exc:
        raise BatchError("InvalidHeaderValue", values={"HeaderName": "date", "HeaderValue": value}) from exc


def listing(service: Service, request: web.Request, items: list[Doc], path: str, kind: str) -> web.Response:
    """One page of `items` that pass `$filter`, with an absolute `odata.nextLink` while more remain."""
    query = dict(request.query)
    keep = odata.predicate(query.get("$filter"))
    items = [d for d in items if keep(d)]
    start, size = odata.page_bounds(query)
    page = [odata.select(d, query.get("$select")) for d in items[start : start + size]]
    body: dict[str, Any] = {"odata.metadata": f"{service.url}/$metadata#{kind}", "value": page}
    if start + size < len(items):
        rest = {k: v for k, v in query.items() if k not in ("$skiptoken", "api-version", "timeOut")}
        body["odata.nextLink"] = f"{service.url}{path}?" + urlencode({**rest, "$skiptoken": str(start + size)})
    return json_response(body)


def document(service: Service, request: web.Request, doc: Doc, kind: str) -> web.Response:
    check_conditions(request, doc, read=True)
    body = {
        "odata.metadata": f"{service.url}/$metadata#{kind}/@Element",
        **odata.select(doc, request.query.get("$select")),
    }
    return json_response(body, headers=resource_headers(doc))


def created(doc: Doc) -> web.Response:
    """201 with no body: where the new resource is, and its ETag."""
    return empty_response(201, {**resource_headers(doc), "Location": doc["url"], "DataServiceId": doc["url"]})


def accepted(doc: Doc) -> web.Response:
    """202 for long-running operations; the SDK's poller then GETs the resource."""
    return empty_response(202, {**resource_headers(doc), "DataServiceId": doc["url"]})


def done(doc: Doc, status: int = 200) -> web.Response:
    """An action that changed the resource: 200 (or 204) with no body."""
    return empty_response(status, {**resource_headers(doc), "DataServiceId": doc["url"]})
