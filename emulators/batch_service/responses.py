"""HTTP responses in the shapes the Batch service returns them."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from emulators.batch_service import documents
from emulators.batch_service.store import Doc
from emulators.batch_service.wire import BatchError, json_response, resource_headers

if TYPE_CHECKING:
    from emulators.batch_service.app import Service

PAGE = 1000


async def body_of(request: web.Request) -> Doc:
    raw = await request.read()
    try:
        doc = json.loads(raw or b"{}")
    except ValueError as exc:
        raise BatchError("InvalidRequestBody", "The request body is not valid JSON.") from exc
    if not isinstance(doc, dict):
        raise BatchError("InvalidRequestBody", "The request body must be a JSON object.")
    return doc


def listing(service: Service, request: web.Request, items: list[Doc], path: str) -> web.Response:
    """One page of `items` with `odata.nextLink` when more remain (a `$skiptoken` offset)."""
    q = request.query
    items = [d for d in items if documents.matches(d, q.get("$filter"))]
    size = min(int(q.get("maxresults", PAGE)), PAGE)
    start = int(q.get("$skiptoken", 0))
    page = [documents.select(d, q.get("$select")) for d in items[start : start + size]]
    body: dict[str, Any] = {"odata.metadata": f"{service.url}/$metadata", "value": page}
    if start + size < len(items):
        keep = "&".join(f"{k}={v}" for k, v in q.items() if k not in ("$skiptoken", "api-version"))
        body["odata.nextLink"] = f"{service.url}{path}?$skiptoken={start + size}" + (f"&{keep}" if keep else "")
    return json_response(body)


def created(doc: Doc, status: int = 201) -> web.Response:
    headers = {**resource_headers(doc), "Location": doc["url"], "DataServiceId": doc["url"]}
    return web.Response(status=status, headers=headers)


def document(doc: Doc, request: web.Request) -> web.Response:
    return json_response(documents.select(doc, request.query.get("$select")), headers=resource_headers(doc))


def accepted(doc: Doc) -> web.Response:
    return web.Response(status=202, headers={**resource_headers(doc), "DataServiceId": doc["url"]})


def task_counts(tasks: list[Doc]) -> Doc:
    counts = {"active": 0, "running": 0, "completed": 0, "succeeded": 0, "failed": 0}
    slots = dict(counts)
    for t in tasks:
        state = "running" if t["state"] in ("running", "preparing") else t["state"]
        counts[state] += 1
        slots[state] += t.get("requiredSlots", 1)
        if t["state"] == "completed":
            result = "succeeded" if t.get("executionInfo", {}).get("result") == "success" else "failed"
            counts[result] += 1
            slots[result] += t.get("requiredSlots", 1)
    return {"taskCounts": counts, "taskSlotCounts": slots}
