"""The HTTP front: Shared Key authentication, `api-version`, flat errors, and the route tables.

Every request must be signed (403 `AuthenticationFailed` otherwise) and carry an `api-version`, whatever
its value (400 `MissingRequiredQueryParameter` otherwise). A path or verb the service does not serve
answers as Azure does for an unknown URI: 400 `InvalidUri`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from emulators.batch_service import auth, routes_jobs, routes_pools, routes_tasks
from emulators.batch_service.engine import Engine
from emulators.batch_service.request_log import request_log
from emulators.batch_service.responses import SERVICE
from emulators.batch_service.store import Doc, Store
from emulators.batch_service.wire import BatchError, error_response, now

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_BODY = 8 * 1024 * 1024


class Service:
    def __init__(
        self, store: Store, account: str, key: str, url: str, engine: Engine, *, active_job_quota: int
    ) -> None:
        self.store, self.account, self.key, self.url = store, account, key, url
        self.engine, self.active_job_quota = engine, active_job_quota

    def changed(self) -> None:
        """Persist a change before it is acknowledged, and let the engine act on it at once."""
        self.store.save()
        self.engine.wake()

    # --- lookups ---------------------------------------------------------------------------------------
    def pool(self, pool_id: str, *, write: bool = False) -> Doc:
        pool = self.store.pools.get(pool_id.lower())
        if pool is None:
            raise BatchError("PoolNotFound")
        if write and pool["state"] == "deleting":
            raise BatchError("PoolBeingDeleted")
        return pool

    def job(self, job_id: str) -> Doc:
        job = self.store.jobs.get(job_id.lower())
        if job is None:
            raise BatchError("JobNotFound")
        return job

    def task(self, job_id: str, task_id: str) -> Doc:
        task = self.store.job_tasks(self.job(job_id)["id"]).get(task_id.lower())
        if task is None:
            raise BatchError("TaskNotFound")
        return task

    # --- application -----------------------------------------------------------------------------------
    def application(self) -> web.Application:
        app = web.Application(middlewares=[request_log, self._errors, self._authenticate], client_max_size=MAX_BODY)
        app[SERVICE] = self
        routes_pools.add_routes(app)
        routes_jobs.add_routes(app)
        routes_tasks.add_routes(app)
        return app

    @web.middleware
    async def _errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except BatchError as exc:
            return error_response(exc, self.url)
        except (web.HTTPNotFound, web.HTTPMethodNotAllowed):
            return error_response(BatchError("InvalidUri"), self.url)
        except web.HTTPRequestEntityTooLarge:
            return error_response(BatchError("RequestBodyTooLarge"), self.url)
        except Exception:  # answered as the service does, in its error shape; the traceback is logged
            log.exception("%s %s failed", request.method, request.path)
            return error_response(BatchError("InternalError"), self.url)

    @web.middleware
    async def _authenticate(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        auth.check(
            request.method,
            request.headers,
            account=self.account,
            key=self.key,
            raw_path=request.rel_url.raw_path,
            raw_query=request.rel_url.raw_query_string,
            now=now(),
        )
        if not request.query.get("api-version"):
            raise BatchError("MissingRequiredQueryParameter", values={"QueryParameterName": "api-version"})
        response = await handler(request)
        if request.headers.get("return-client-request-id", "").lower() == "true":
            response.headers["client-request-id"] = request.headers.get("client-request-id", "")
        return response
