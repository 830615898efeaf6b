"""The REST surface: routes for pools, nodes, jobs and tasks, behind Shared Key authentication."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from emulators.batch_service import auth, routes
from emulators.batch_service.engine import Engine
from emulators.batch_service.store import Doc, Store
from emulators.batch_service.wire import BatchError, error_response

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Service:
    def __init__(self, store: Store, account: str, key: str, url: str, engine: Engine) -> None:
        self.store, self.account, self.key, self.url = store, account, key, url
        self.engine = engine
        self.on_change: Callable[[], None] = lambda: None

    def changed(self) -> None:
        self.store.save()
        self.on_change()

    # --- lookups ---------------------------------------------------------------------------------
    def pool(self, pool_id: str) -> Doc:
        pool = self.store.pools.get(pool_id.lower())
        if pool is None or pool.get("_deleted"):
            raise BatchError("PoolNotFound")
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

    # --- application -----------------------------------------------------------------------------
    def application(self) -> web.Application:
        app = web.Application(middlewares=[self._errors, self._authenticate], client_max_size=8 * 1024 * 1024)
        routes.add_routes(app, self)
        return app

    @web.middleware
    async def _errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except BatchError as exc:
            return error_response(exc, self.url)
        except web.HTTPNotFound:
            return error_response(BatchError("ResourceNotFound", "The specified resource does not exist."), self.url)
        except web.HTTPMethodNotAllowed:
            return error_response(BatchError("ResourceNotFound", "The requested operation is not supported."), self.url)

    @web.middleware
    async def _authenticate(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        ok = auth.verify(
            request.headers.get("Authorization"),
            request.method,
            dict(request.headers),
            account=self.account,
            key=self.key,
            raw_path=request.rel_url.raw_path,
            raw_query=request.rel_url.raw_query_string,
        )
        if not ok:
            raise BatchError("AuthenticationFailed")
        return await handler(request)
