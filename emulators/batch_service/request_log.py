"""One log line per request the local Batch service answers: `request METHOD ROUTE STATUS`.

ROUTE is the route's template (`/jobs/{job}/tasks`), so the lines count calls by API operation whatever the
ids; `emulators.request_counter` reads them to count a scenario's Batch calls (task add, job get and add,
autoscale evaluate and enable). Outermost middleware: refusals (auth, unknown URI) are counted with their
status too.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def request_log(request: web.Request, handler: Handler) -> web.StreamResponse:
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else request.path
        log.info("request %s %s %d", request.method, route, status)
