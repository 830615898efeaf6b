"""The route table: one handler per Batch operation sitelens uses."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from autoscale import Formula, FormulaError
from emulators.batch_service import documents
from emulators.batch_service.responses import accepted, body_of, created, document, listing, task_counts
from emulators.batch_service.wire import BatchError, duration, json_response, stamp

if TYPE_CHECKING:
    from emulators.batch_service.app import Service

MAX_COLLECTION = 100
MAX_COLLECTION_BYTES = 1024 * 1024


def _formula(text: object) -> Formula:
    try:
        return Formula.parse(str(text))
    except FormulaError as exc:
        raise BatchError(exc.code, exc.message, {"Message": exc.value}) from exc


def add_routes(app: web.Application, s: Service) -> None:  # noqa: C901, PLR0915 - a flat route table
    r = app.router

    # --- pools -----------------------------------------------------------------------------------
    async def create_pool(request: web.Request) -> web.StreamResponse:
        body = await body_of(request)
        if str(body.get("id", "")).lower() in s.store.pools:
            raise BatchError("PoolExists")
        pool = documents.new_pool(body, s.url)
        if pool["enableAutoScale"]:
            _formula(pool.get("autoScaleFormula", ""))
        s.store.pools[pool["id"].lower()] = pool
        s.store.nodes[pool["id"].lower()] = []
        s.changed()
        return created(pool)

    async def get_pool(request: web.Request) -> web.StreamResponse:
        return document(s.pool(request.match_info["pool"]), request)

    async def list_pools(request: web.Request) -> web.StreamResponse:
        return listing(s, request, [p for p in s.store.pools.values() if not p.get("_deleted")], "/pools")

    async def delete_pool(request: web.Request) -> web.StreamResponse:
        pool = s.pool(request.match_info["pool"])
        documents.set_state(pool, "deleting")
        pool["_deleted"] = True  # the runner removes the nodes, then the pool
        s.changed()
        return accepted(pool)

    async def resize_pool(request: web.Request) -> web.StreamResponse:
        pool, body = s.pool(request.match_info["pool"]), await body_of(request)
        if pool["enableAutoScale"]:
            raise BatchError("OperationInvalidForCurrentState", "The pool has autoscale enabled.")
        pool["targetDedicatedNodes"] = int(str(body.get("targetDedicatedNodes", pool["targetDedicatedNodes"])))
        pool["targetLowPriorityNodes"] = int(str(body.get("targetLowPriorityNodes", pool["targetLowPriorityNodes"])))
        pool["_deallocation"] = body.get("nodeDeallocationOption", "requeue")
        pool["allocationState"], pool["allocationStateTransitionTime"] = "resizing", stamp()
        documents.touch(pool)
        s.changed()
        return accepted(pool)

    async def enable_autoscale(request: web.Request) -> web.StreamResponse:
        pool, body = s.pool(request.match_info["pool"]), await body_of(request)
        formula = body.get("autoScaleFormula") or pool.get("autoScaleFormula")
        if not formula:
            raise BatchError("InvalidAutoScalingSettings", "An autoscale formula is required.")
        _formula(formula)
        s.engine.enable(pool, formula, duration(body.get("autoScaleEvaluationInterval")))
        s.changed()
        return web.Response(status=200, headers={"DataServiceId": pool["url"]})

    async def disable_autoscale(request: web.Request) -> web.StreamResponse:
        pool = s.pool(request.match_info["pool"])
        pool["enableAutoScale"] = False
        documents.touch(pool)
        s.changed()
        return web.Response(status=200, headers={"DataServiceId": pool["url"]})

    async def evaluate_autoscale(request: web.Request) -> web.StreamResponse:
        pool, body = s.pool(request.match_info["pool"]), await body_of(request)
        if not pool["enableAutoScale"]:
            raise BatchError("OperationInvalidForCurrentState", "Autoscale is not enabled on the pool.")
        run = s.engine.evaluate(pool, _formula(body.get("autoScaleFormula", "")))
        return json_response(run)

    async def node_counts(request: web.Request) -> web.StreamResponse:
        items = [s.engine.node_counts(p) for p in s.store.pools.values() if not p.get("_deleted")]
        return listing(s, request, items, "/nodecounts")

    async def list_nodes(request: web.Request) -> web.StreamResponse:
        pool = s.pool(request.match_info["pool"])
        return listing(s, request, s.store.nodes.get(pool["id"].lower(), []), f"/pools/{pool['id']}/nodes")

    async def get_node(request: web.Request) -> web.StreamResponse:
        pool = s.pool(request.match_info["pool"])
        for node in s.store.nodes.get(pool["id"].lower(), []):
            if node["id"] == request.match_info["node"]:
                return json_response(documents.select(node, None))
        raise BatchError("NodeNotFound")

    # --- jobs ------------------------------------------------------------------------------------
    async def create_job(request: web.Request) -> web.StreamResponse:
        body = await body_of(request)
        if str(body.get("id", "")).lower() in s.store.jobs:
            raise BatchError("JobExists")
        job = documents.new_job(body, s.url)
        s.store.jobs[job["id"].lower()] = job
        s.changed()
        return created(job)

    async def get_job(request: web.Request) -> web.StreamResponse:
        return document(s.job(request.match_info["job"]), request)

    async def list_jobs(request: web.Request) -> web.StreamResponse:
        return listing(s, request, list(s.store.jobs.values()), "/jobs")

    async def update_job(request: web.Request) -> web.StreamResponse:
        job, body = s.job(request.match_info["job"]), await body_of(request)
        for key in ("priority", "onAllTasksComplete", "onTaskFailure", "constraints", "metadata", "maxParallelTasks"):
            if key in body:
                job[key] = body[key]
        documents.touch(job)
        s.changed()
        return web.Response(status=200, headers={"DataServiceId": job["url"]})

    async def terminate_job(request: web.Request) -> web.StreamResponse:
        job = s.job(request.match_info["job"])
        if job["state"] == "completed":
            raise BatchError("JobCompleted", "The specified job is already in a completed state.")
        reason = (await body_of(request)).get("terminateReason") or "UserTerminate"
        s.engine.terminate_job(job, str(reason))
        s.changed()
        return accepted(job)

    async def delete_job(request: web.Request) -> web.StreamResponse:
        job = s.job(request.match_info["job"])
        s.engine.terminate_job(job, "UserTerminate")
        documents.set_state(job, "deleting")
        del s.store.jobs[job["id"].lower()]
        s.store.tasks.pop(job["id"].lower(), None)
        s.changed()
        return accepted(job)

    async def job_task_counts(request: web.Request) -> web.StreamResponse:
        job = s.job(request.match_info["job"])
        return json_response(task_counts(list(s.store.job_tasks(job["id"]).values())))

    # --- tasks -----------------------------------------------------------------------------------
    def add_task(job_id: str, body: dict[str, object]) -> dict[str, object]:
        job = s.job(job_id)
        if job["state"] != "active":
            raise BatchError("JobCompleted" if job["state"] == "completed" else "JobNotActive")
        tasks = s.store.job_tasks(job["id"])
        if str(body.get("id", "")).lower() in tasks:
            raise BatchError("TaskExists")
        task = documents.new_task(dict(body), job, s.url)
        tasks[task["id"].lower()] = task
        return task

    async def create_task(request: web.Request) -> web.StreamResponse:
        task = add_task(request.match_info["job"], await body_of(request))
        s.changed()
        return created(task)

    async def add_collection(request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        if len(raw) > MAX_COLLECTION_BYTES:
            raise BatchError("RequestBodyTooLarge", "The request body is too large.")
        values = (await body_of(request)).get("value", [])
        if not isinstance(values, list) or len(values) > MAX_COLLECTION:
            raise BatchError("InvalidPropertyValue", "A collection holds at most 100 tasks.", {"PropertyName": "value"})
        results = []
        for body in values:
            try:
                task = add_task(request.match_info["job"], body)
                results.append({"status": "success", "taskId": task["id"], "eTag": task["eTag"],
                                "lastModified": task["lastModified"], "location": task["url"]})  # fmt: skip
            except BatchError as exc:
                if exc.code in ("JobNotFound", "JobCompleted", "JobNotActive"):
                    raise
                results.append({"status": "clienterror", "taskId": body.get("id"), "error": exc.body(s.url)})
        s.changed()
        return json_response({"value": results})

    async def get_task(request: web.Request) -> web.StreamResponse:
        return document(s.task(request.match_info["job"], request.match_info["task"]), request)

    async def list_tasks(request: web.Request) -> web.StreamResponse:
        job = s.job(request.match_info["job"])
        return listing(s, request, list(s.store.job_tasks(job["id"]).values()), f"/jobs/{job['id']}/tasks")

    async def delete_task(request: web.Request) -> web.StreamResponse:
        task = s.task(request.match_info["job"], request.match_info["task"])
        s.engine.kill(task)
        del s.store.job_tasks(request.match_info["job"])[task["id"].lower()]
        s.changed()
        return web.Response(status=200)

    async def terminate_task(request: web.Request) -> web.StreamResponse:
        task = s.task(request.match_info["job"], request.match_info["task"])
        if task["state"] != "completed":
            s.engine.complete(task, exit_code=None, failure=("usererror", "TaskEnded", "The task was terminated"))
            s.changed()
        return web.Response(status=204, headers={"DataServiceId": task["url"]})

    async def reactivate_task(request: web.Request) -> web.StreamResponse:
        task = s.task(request.match_info["job"], request.match_info["task"])
        if task["state"] != "completed" or task.get("executionInfo", {}).get("result") != "failure":
            raise BatchError("TaskCompleted" if task["state"] == "completed" else "OperationInvalidForCurrentState")
        task["executionInfo"] = {"retryCount": 0, "requeueCount": task["executionInfo"].get("requeueCount", 0)}
        documents.set_state(task, "active")
        s.changed()
        return web.Response(status=204, headers={"DataServiceId": task["url"]})

    r.add_post("/pools", create_pool)
    r.add_get("/pools", list_pools)
    r.add_get("/pools/{pool}", get_pool)
    r.add_delete("/pools/{pool}", delete_pool)
    r.add_post("/pools/{pool}/resize", resize_pool)
    r.add_post("/pools/{pool}/enableautoscale", enable_autoscale)
    r.add_post("/pools/{pool}/disableautoscale", disable_autoscale)
    r.add_post("/pools/{pool}/evaluateautoscale", evaluate_autoscale)
    r.add_get("/pools/{pool}/nodes", list_nodes)
    r.add_get("/pools/{pool}/nodes/{node}", get_node)
    r.add_get("/nodecounts", node_counts)
    r.add_post("/jobs", create_job)
    r.add_get("/jobs", list_jobs)
    r.add_get("/jobs/{job}", get_job)
    r.add_patch("/jobs/{job}", update_job)
    r.add_put("/jobs/{job}", update_job)
    r.add_post("/jobs/{job}/terminate", terminate_job)
    r.add_delete("/jobs/{job}", delete_job)
    r.add_get("/jobs/{job}/taskcounts", job_task_counts)
    r.add_post("/jobs/{job}/tasks", create_task)
    r.add_get("/jobs/{job}/tasks", list_tasks)
    r.add_post("/jobs/{job}/addtaskcollection", add_collection)
    r.add_get("/jobs/{job}/tasks/{task}", get_task)
    r.add_delete("/jobs/{job}/tasks/{task}", delete_task)
    r.add_post("/jobs/{job}/tasks/{task}/terminate", terminate_task)
    r.add_post("/jobs/{job}/tasks/{task}/reactivate", reactivate_task)
