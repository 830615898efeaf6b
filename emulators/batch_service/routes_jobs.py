"""Jobs: create, get, list, update (PATCH) and replace (PUT), terminate, delete, task counts.

The account's quota of active jobs is Azure's: a job counts until it is completed (terminated, or ended by
its own rules) or deleted, and a create past the quota is refused with 409 `ActiveJobAndScheduleQuotaReached`
(this service has no job schedules, which Azure counts too).
"""

from __future__ import annotations

from aiohttp import web

from emulators.batch_service import documents
from emulators.batch_service.responses import (
    accepted,
    body_of,
    check_conditions,
    created,
    document,
    done,
    listing,
    service_of,
)
from emulators.batch_service.wire import BatchError, json_response


async def create_job(request: web.Request) -> web.StreamResponse:
    s = service_of(request)
    body = await body_of(request)
    if str(body.get("id", "")).lower() in s.store.jobs:
        raise BatchError("JobExists")
    if sum(1 for job in s.store.jobs.values() if job["state"] != "completed") >= s.active_job_quota:
        raise BatchError("ActiveJobAndScheduleQuotaReached")
    job = documents.new_job(body, s.url)
    s.store.jobs[job["id"].lower()] = job
    s.store.tasks[job["id"].lower()] = {}
    s.engine.check_all_complete(job)  # a job with no tasks counts as all complete
    s.changed()
    return created(job)


async def get_job(request: web.Request) -> web.StreamResponse:
    s = service_of(request)
    return document(s, request, s.job(request.match_info["job"]), "jobs")


async def list_jobs(request: web.Request) -> web.StreamResponse:
    s = service_of(request)
    return listing(s, request, list(s.store.jobs.values()), "/jobs", "jobs")


async def update_job(request: web.Request) -> web.StreamResponse:
    s = service_of(request)
    job, body = s.job(request.match_info["job"]), await body_of(request)
    check_conditions(request, job, read=False)
    if job["state"] in ("completed", "terminating"):
        raise BatchError("JobCompleted")
    pool_id = (body.get("poolInfo") or {}).get("poolId")
    if pool_id and pool_id.lower() != job["poolInfo"]["poolId"].lower():
        if job["state"] != "disabled":
            raise BatchError("OperationInvalidForCurrentState", "A job's pool can change only while it is disabled.")
        job["poolInfo"] = {"poolId": pool_id}
    documents.apply_job_settings(job, body, replace=request.method == "PUT")
    documents.touch(job)
    s.engine.check_all_complete(job)
    s.changed()
    return done(job)


async def terminate_job(request: web.Request) -> web.StreamResponse:
    s = service_of(request)
    job = s.job(request.match_info["job"])
    check_conditions(request, job, read=False)
    if job["state"] == "completed":
        raise BatchError("JobCompleted")
    reason = (await body_of(request)).get("terminateReason") or "UserTerminate"
    s.engine.terminate_job(job, str(reason))
    s.changed()
    return accepted(job)


async def delete_job(request: web.Request) -> web.StreamResponse:
    s = service_of(request)
    job = s.job(request.match_info["job"])
    check_conditions(request, job, read=False)
    for task in s.store.job_tasks(job["id"]).values():
        s.engine.kill(task)
    documents.set_state(job, "deleting")
    del s.store.jobs[job["id"].lower()]  # gone at once: the SDK's poller sees 404 and is done
    s.store.tasks.pop(job["id"].lower(), None)
    s.changed()
    return accepted(job)


async def task_counts(request: web.Request) -> web.StreamResponse:
    s = service_of(request)
    job = s.job(request.match_info["job"])
    return json_response(documents.task_counts(list(s.store.job_tasks(job["id"]).values())))


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_post("/jobs", create_job)
    r.add_get("/jobs", list_jobs)
    r.add_get("/jobs/{job}", get_job)
    r.add_patch("/jobs/{job}", update_job)
    r.add_put("/jobs/{job}", update_job)
    r.add_post("/jobs/{job}/terminate", terminate_job)
    r.add_delete("/jobs/{job}", delete_job)
    r.add_get("/jobs/{job}/taskcounts", task_counts)
