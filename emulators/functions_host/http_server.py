"""The host's HTTP front: function routes, keys, the Event Grid blob webhook, and host endpoints.

- `/{routePrefix}/{route}`: HTTP functions, matched most-specific first; keys from the
  `x-functions-key` header (which wins) or the `code` query parameter; 401 when a required key is
  missing or wrong. An unhandled exception is a 500.
- `/runtime/webhooks/blobs?functionName=Host.Functions.<name>`: Event Grid delivery for blob triggers
  (`aeg-event-type`: SubscriptionValidation → handshake, Notification → 202 after queueing,
  Unsubscribe → 202, anything else → 400; a Notification event without `data.url`, or without a
  `data.blobType` the blob extension parses, → 400, none of the delivery queued). Needs the
  `blobs_extension` system key or the master key.
  The blob name is the URL's path decoded (BlobUriBuilder); a Notification for a function name no
  function has is queued all the same and dropped by the queue listener, as the host does.
- Routing is ASP.NET Core's: the route prefix is the first literal segment of every function's template,
  literals match without regard to case (`/API/jobs/1` is routed), and a path with an empty segment
  (`/api//jobs/1`) matches no route: nothing collapses slashes.
- A function's `HttpRequest` gets what the host's gRPC message carries: each query parameter and header
  once, repeated values joined with "," (StringValues.ToString(), empty values skipped), query
  parameters left without a value dropped, header names lower-case. The body is the bytes as sent (never
  decompressed), and only when `Content-Length` is above 0 (GrpcMessageConversionExtensions.ToRpcHttp):
  a chunked body reaches the function empty, with its `transfer-encoding` header.
- `/admin/host/ping`: readiness. `/{routePrefix}/openapi.json`: the app's `openapi.json`, if present.

Every error the host itself answers is an RFC 9457 problem document with a reason code (`HOST_REASONS`),
at the status the Functions host (Kestrel) gives: 401 key, 404 no route (or a method no route lists),
413 body over 100 MiB, 414 request line over 8,192 bytes, 431 headers over 32 KiB or 100 fields, 500 a
function that failed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import azure.functions as func
from aiohttp import web

from emulators.functions_host.blob_trigger import BlobTriggers
from emulators.functions_host.config import Keys
from emulators.functions_host.index import FunctionSpec
from emulators.functions_host.invoker import InvocationFailed, Invoker
from emulators.functions_host.routes import RouteTemplate
from shared import problems

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_BODY = 100 * 1024 * 1024  # the Functions host's maxRequestBodySize
MAX_REQUEST_LINE = 8192  # Kestrel's MaxRequestLineSize (method, target, version)
MAX_HEADER_BYTES = 32 * 1024  # Kestrel's MaxRequestHeadersTotalSize
MAX_HEADER_COUNT = 100  # Kestrel's MaxRequestHeaderCount
# aiohttp's own parser answers plain text when a line or field passes its limits; raised well past Kestrel's
# so that the checks above, which answer problem documents, are the ones that refuse.
PARSER_LIMITS = {"max_line_size": 16 * 1024 * 1024, "max_field_size": 1024 * 1024, "max_headers": 1024}
# Kestrel never decodes a Content-Encoding: the function gets the bytes as they came.
HANDLER_ARGS: dict[str, object] = {**PARSER_LIMITS, "auto_decompress": False}
HOST_REASONS = {
    400: "bad_request",
    401: "unauthorized",
    404: "route_not_found",
    413: "request_too_large",
    414: "uri_too_long",
    431: "headers_too_large",
    500: "internal_error",
}


class HttpFront:
    def __init__(
        self,
        specs: list[FunctionSpec],
        invoker: Invoker,
        keys: Keys,
        *,
        route_prefix: str,
        enforce_keys: bool,
        blob_triggers: BlobTriggers | None,
        openapi_file: Path | None,
        custom_headers: Mapping[str, str] | None = None,
    ) -> None:
        self.custom_headers = dict(custom_headers or {})
        self.invoker = invoker
        self.keys = keys
        self.enforce_keys = enforce_keys
        self.blob_triggers = blob_triggers
        self.openapi_file = openapi_file if openapi_file and openapi_file.is_file() else None
        self.openapi_route = RouteTemplate.parse(_prefixed(route_prefix, "openapi.json"))
        self.routes = sorted(
            ((RouteTemplate.parse(_prefixed(route_prefix, str(s.trigger.get("route") or s.name))), s) for s in specs),
            key=lambda pair: pair[0].precedence,
        )

    def application(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY, handler_args=HANDLER_ARGS, middlewares=[_problem_documents])
        app.on_response_prepare.append(self._add_custom_headers)
        app.router.add_get("/admin/host/ping", self._ping)
        app.router.add_post("/runtime/webhooks/blobs", self._blob_webhook)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        return app

    async def _add_custom_headers(self, _request: web.Request, response: web.StreamResponse) -> None:
        # host.json extensions.http.customHeaders apply to every response the host sends.
        for name, value in self.custom_headers.items():
            response.headers.setdefault(name, value)

    async def _ping(self, _request: web.Request) -> web.Response:
        return web.Response(status=200)

    def _key(self, request: web.Request) -> str | None:
        return request.headers.get("x-functions-key") or request.query.get("code")

    def _find(self, path: str, method: str) -> tuple[FunctionSpec, dict[str, str]] | None:
        for template, spec in self.routes:
            params = template.match(path)
            methods = [m.upper() for m in spec.trigger.get("methods") or []]
            if params is not None and (not methods or method in methods):
                return spec, params
        return None

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        # The raw, still percent-encoded path: route matching decodes each value once, and an encoded
        # '/' inside a value must not split segments.
        path = request.rel_url.raw_path
        if self.openapi_file and request.method == "GET" and self.openapi_route.match(path) is not None:
            return web.Response(body=self.openapi_file.read_bytes(), content_type="application/json")
        found = self._find(path, request.method)
        if found is None:
            return problem(404, f"no function answers {request.method} {path[:200]}")
        spec, params = found
        level = str(spec.trigger.get("authLevel") or "FUNCTION").upper()
        needs_key = self.enforce_keys and level != "ANONYMOUS"
        if needs_key and not self.keys.accepts(spec.name, self._key(request), admin=level == "ADMIN"):
            return problem(401, "a function key is required (x-functions-key header or code parameter)")
        body = await request.read()  # read all the same: the 413 limit holds and the connection stays usable
        if not request.content_length:
            # The host hands the worker a body only when Content-Length is above 0 (ToRpcHttp, and the same
            # test for binding data): a chunked body reaches a Python function empty.
            body = b""
        query = joined_values(request.query.items())
        req = func.HttpRequest(
            method=request.method,
            url=str(request.url),
            headers={name.lower(): value for name, value in joined_values(request.headers.items()).items()},
            params={name: value for name, value in query.items() if value},  # the worker never sees an empty one
            route_params=params,
            body=body,
        )
        try:
            result = await self.invoker.invoke(spec, req, _binding_data(params, query, body))
        except InvocationFailed:
            return problem(500, f"function {spec.name} failed; the host log has the trace")
        return _to_response(result)

    async def _blob_webhook(self, request: web.Request) -> web.Response:
        if self.enforce_keys:
            key = self._key(request)
            system = self.keys.system.get("blobs_extension")
            if not (self.keys.accepts("", key, admin=True) or (system and key == system)):
                return problem(401, "the blobs_extension system key or the master key is required")
        kind = request.headers.get("aeg-event-type", "")
        events = _events(await request.read())
        if events is None:
            return problem(400, "the body is not a JSON array of Event Grid events with a data object")
        if kind == "SubscriptionValidation":
            code = events[0]["data"].get("validationCode")
            return web.json_response({"validationResponse": code})
        if kind == "Unsubscribe":
            return web.Response(status=202)
        if kind != "Notification":
            return problem(400, "aeg-event-type header missing or unknown")
        return await self._notify(request.query.get("functionName", ""), events)

    async def _notify(self, function_id: str, events: list[dict[str, Any]]) -> web.Response:
        if self.blob_triggers is None:
            return problem(404, "this app has no blob-triggered function")
        if not all(isinstance(e["data"].get("url"), str) for e in events):
            return problem(400, "a Notification event without data.url")
        if not all(_known_blob_type(e["data"].get("blobType")) for e in events):
            return problem(400, "a Notification event without data.blobType BlockBlob, PageBlob or AppendBlob")
        for event in events:
            data = event["data"]
            container, _, name = urlsplit(data["url"]).path.lstrip("/").partition("/")
            if container == self._account_segment(data["url"]):  # path-style URL (Azurite): /account/container/blob
                container, _, name = name.partition("/")
            # The host queues the message for whatever function the query names (its listener drops a name no
            # function has) and takes the blob name decoded (BlobUriBuilder unescapes it; '+' stays '+').
            await self.blob_triggers.enqueue(function_id, container, unquote(name), str(data.get("eTag", "")))
        return web.Response(status=202)

    @staticmethod
    def _account_segment(url: str) -> str:
        parts = urlsplit(url)
        host = parts.hostname or ""
        first = parts.path.lstrip("/").split("/", 1)[0]
        # Azure's URLs name the account in the host; emulator URLs in the first path segment.
        return first if host in ("127.0.0.1", "localhost") or host.startswith("127.") else ""


def _prefixed(route_prefix: str, route: str) -> str:
    """The template the host registers: the prefix, then the function's route (WebJobsRouteBuilder)."""
    return "/".join(part for part in (route_prefix.strip("/"), route.strip("/")) if part)


def problem(status: int, detail: str) -> web.Response:
    """An error the host itself answers, as an RFC 9457 problem document."""
    doc = problems.problem(status, HOST_REASONS.get(status, "bad_request"), detail)
    return web.json_response(doc, status=status, content_type=problems.MEDIA_TYPE)


def _oversized(request: web.BaseRequest) -> web.Response | None:
    """414 or 431 where Kestrel would refuse the request line or the headers."""
    line = len(request.method) + len(request.raw_path) + len(" / HTTP/1.1\r\n") - 1
    if line > MAX_REQUEST_LINE:
        return problem(414, f"the request line is {line} bytes; at most {MAX_REQUEST_LINE}")
    fields = request.raw_headers
    size = sum(len(name) + len(value) + 4 for name, value in fields)
    if len(fields) > MAX_HEADER_COUNT or size > MAX_HEADER_BYTES:
        return problem(
            431, f"{len(fields)} header fields, {size} bytes; at most {MAX_HEADER_COUNT} and {MAX_HEADER_BYTES}"
        )
    return None


@web.middleware
async def _problem_documents(request: web.Request, handler: Handler) -> web.StreamResponse:
    """aiohttp's own errors (405, 413, ...) and anything a handler raises become problem documents too."""
    refused = _oversized(request)
    if refused is not None:
        return refused
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return problem(exc.status, exc.text or exc.reason)
    except Exception:
        log.exception("the host failed on %s %s", request.method, request.rel_url.path[:200])
        return problem(500, "the host failed to handle the request; its log has the trace")


def _events(body: bytes) -> list[dict[str, Any]] | None:
    """An Event Grid delivery (one event or an array), each with a `data` object; None when it is not."""
    try:
        doc: Any = json.loads(body)
    except (ValueError, RecursionError):
        return None
    events = doc if isinstance(doc, list) else [doc]
    if not events or not all(isinstance(e, dict) and isinstance(e.get("data", {}), dict) for e in events):
        return None
    return [{**e, "data": e.get("data", {})} for e in events]


def _known_blob_type(value: object) -> bool:
    """`data.blobType` as the blob extension reads it, for every event: "Blob" taken out, parsed as an
    Azure.Storage.Blobs BlobType, so an event without it (or naming another) fails the delivery. Its `data.eTag`
    it only quotes, so a missing one fails nothing."""
    return isinstance(value, str) and value.replace("Blob", "") in ("Block", "Page", "Append")


def joined_values(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Each name once (matched without regard to case, spelled as it first came), its values joined with ","
    and empty ones skipped: what ASP.NET Core's StringValues.ToString() hands the worker."""
    names: dict[str, str] = {}
    values: dict[str, list[str]] = {}
    for name, value in pairs:
        first = names.setdefault(name.lower(), name)
        values.setdefault(first, []).append(value)
    return {name: ",".join(v for v in vs if v) for name, vs in values.items()}


def _binding_data(params: Mapping[str, str], query: Mapping[str, str], body: bytes) -> dict[str, object]:
    data: dict[str, object] = {"Query": dict(query)}
    try:
        payload = json.loads(body) if body else None
    except (ValueError, RecursionError):  # a body is the function's to judge; binding data is best effort
        payload = None
    if isinstance(payload, dict):
        data.update(payload)
    data.update(params)
    return data


def _to_response(result: Any) -> web.Response:
    if result is None:
        return web.Response(status=204)
    if isinstance(result, str):
        return web.Response(status=200, text=result)
    if isinstance(result, func.HttpResponse):
        headers = {k: v for k, v in result.headers.items() if k.lower() != "content-type"}
        content_type = result.headers.get("content-type") or f"{result.mimetype}; charset={result.charset}"
        headers["Content-Type"] = content_type
        return web.Response(status=result.status_code, body=result.get_body(), headers=headers)
    log.warning("HTTP function returned %s; expected HttpResponse or str", type(result).__name__)
    return problem(500, f"the function returned {type(result).__name__}, not an HttpResponse")
