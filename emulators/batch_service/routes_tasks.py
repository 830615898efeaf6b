"""Tasks: create, add collection, get, list, replace constraints, delete, terminate, reactivate."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from emulators.batch_service import documents, execution
from emulators.batch_service.responses import body_of, check_conditions, created, document, done, listing, service_of
from emulators.batch_service.wire import BatchError, invalid, json_response

if TYPE_CHECKING:
    from emulators.batch_service.app import Service

MAX_COLLECTION = 100
MAX_COLLECTION_BYTES = 1024 * 1024  # the service's limit on an add-collection body
_JOB_REFUSALS = {"completed": "JobCompleted", "terminating": "JobBeingTerminated", "deleting": "JobBeingDeleted"}
USER_TERMINATED = execution.Failure("ended", "usererror", "TaskEnded", "Task Was Ended by User Request")


def writable_job(s: Service, job_id: str) -> dict[str, Any]:
    job = s.job(job_id)
    if job["state"] in _JOB_REFUSALS:
        raise BatchError(_JOB_REFUSALS[job["state"]])
    return job


def add_task(s: Service, job: dict[str, Any], body: object) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BatchError("InvalidRequestBody", values={"Reason": "a task must be a JSON object"})
    tasks = s.store.job_tasks(job["id"])
    if str(body.get("id", "")).lower() in tasks:
        raise BatchError("TaskExists")
    task = documents.new_task(body, job, s.url)
    tasks[task["id"].lower()] = task
    return task


async def create_task(request: web.Request) -> web.StreamResponse:
    s = service_of(request)
    job = writable_job(s, request.match_info["job"])
    task = add_task(s, job, await body_of(request))
    s.changed()
    return created(task)


async def add_collection(request: web.Request) -> web.StreamResponse:
    s = service_of(request)
    if len(await request.read()) > MAX_COLLECTION_BYTES:
        raise BatchError("RequestBodyTooLarge")
    job = writable_job(s, request.match_info["job"])
    values = (await body_of(request)).get("value")
    if not isinstance(values, list):
        raise BatchError("MissingRequiredProperty", values={"PropertyName": "value"})
    if len(values) > MAX_COLLECTION:
        raise invalid("value", f"a collection holds at most {MAX_COLLECTION} tasks")
    results = []
    for body in values:
        task_id = body.get("id") if isinstance(body, dict) else None
        try:
            task = add_task(s, job, body)
        except BatchError as exc:  # per-task failures do not fail the request
            results.append({"status": "clienterror", "taskId": task_id, "error": exc.body(s.url)})
        else:
            results.append({"status": "success", "taskId": task["id"], "eTag": task["eTag"],
                            "lastModified": task["lastModified"], "location": task["url"]})  # fmt: skip
    s.changed()
    return json_response({"odata.metadata": f"{s.url}/$metadata#taskaddresult", "value": results})


async def get_task(request: web.Request) -> web.StreamResponse:
    s = service_of(request)
    return document(s, request, s.task(request.match_info["job"], request.match_info["task"]), "tasks")


async def list_tasks(request: web.Request) -> web.StreamResponse:
    s = service_of(request)
    job = s.job(request.match_info["job"])
    tasks = list(s.store.job_tasks(job["id"]).values())
    return listing(s, request, tasks, f"/jobs/{job['id']}/tasks", "tasks")


async def replace_task(request: web.Request) -> web.StreamResponse:
    s = service_of(request)
    task, body = s.task(request.match_info["job"], request.match_info["task"]), await body_of(request)
    check_conditions(request, task, read=False)
    task["constraints"] = documents.task_constraints(body.get("constraints"), s.job(request.match_info["job"]))
    documents.touch(task)
    s.changed()
    return done(task)


async def delete_task(request: web.Request) -> web.StreamResponse:
    s = service_of(request)
    task = s.task(request.match_info["job"], request.match_info["task"])
    check_conditions(request, task, read=False)
    s.engine.kill(task)  # a running task is stopped; its node slot frees when the process ends
    job = s.job(request.match_info["job"])
    del s.store.job_tasks(job["id"])[task["id"].lower()]
    s.engine.check_all_complete(job)
    s.changed()
    return done(task)


async def terminate_task(request: web.Request) -> web.StreamResponse:
    s = service_of(request)
    task = s.task(request.match_info["job"], request.match_info["task"])
    check_conditions(request, task, read=False)
    if task["state"] == "completed":
        raise BatchError("TaskCompleted")
    s.engine.complete(task, None, USER_TERMINATED)
    s.engine.check_all_complete(s.job(request.match_info["job"]))
    s.changed()
    return done(task, 204)


async def reactivate_task(request: web.Request) -> web.StreamResponse:
    s = service_of(request)
    writable_job(s, request.match_info["job"])  # a completed job's tasks cannot come back
    task = s.task(request.match_info["job"], request.match_info["task"])
    check_conditions(request, task, read=False)
    info = task["executionInfo"]
    if task["state"] != "completed" or info.get("result") != "failure":
        raise BatchError(
            "OperationInvalidForCurrentState", "Only a task that completed with a failure can be reactivated."
        )
    task["executionInfo"] = {"retryCount": 0, "requeueCount": info.get("requeueCount", 0)}
    if "lastRequeueTime" in info:
        task["executionInfo"]["lastRequeueTime"] = info["lastRequeueTime"]
    task.pop("nodeInfo", None)
    documents.set_state(task, "active")
    s.changed()
    return done(task, 204)


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_post("/jobs/{job}/tasks", create_task)
    r.add_get("/jobs/{job}/tasks", list_tasks)
    r.add_post("/jobs/{job}/addtaskcollection", add_collection)
    r.add_get("/jobs/{job}/tasks/{task}", get_task)
    r.add_put("/jobs/{job}/tasks/{task}", replace_task)
    r.add_delete("/jobs/{job}/tasks/{task}", delete_task)
    r.add_post("/jobs/{job}/tasks/{task}/terminate", terminate_task)
    r.add_post("/jobs/{job}/tasks/{task}/reactivate", reactivate_task)
