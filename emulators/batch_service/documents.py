"""New pools, jobs and tasks as REST documents: the request body checked as the service checks it, plus
the properties the service adds (url, eTag, times, states, defaults).

Unknown request properties are kept and returned, as the SDK's models are open mappings. Durations are
respelt the way the service returns them (`PT05M00S` → `PT5M`).
"""

from __future__ import annotations

import re
from typing import Any

from emulators.batch_service.wire import INFINITE, BatchError, invalid, missing, new_etag, normalized, stamp

Doc = dict[str, Any]
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_UPLOAD_CONDITIONS = ("tasksuccess", "taskfailure", "taskcompletion")


def check_id(doc: Doc) -> str:
    value = doc.get("id")
    if not isinstance(value, str) or not value:
        raise missing("id")
    if not _ID.match(value):
        raise invalid("id", "at most 64 letters, digits, hyphens and underscores")
    return value


def _int(doc: Doc, name: str, default: int, low: int, high: int) -> int:
    value = doc.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise invalid(name, f"an integer from {low} to {high}")
    return value


def _choice(doc: Doc, name: str, choices: tuple[str, ...], default: str) -> str:
    value = doc.get(name) or default
    if value not in choices:
        raise invalid(name, f"one of {', '.join(choices)}")
    return str(value)


def touch(doc: Doc) -> Doc:
    doc["eTag"] = new_etag()
    doc["lastModified"] = stamp()
    return doc


def set_state(doc: Doc, state: str) -> None:
    if doc.get("state") != state:
        doc["previousState"] = doc.get("state")
        doc["previousStateTransitionTime"] = doc.get("stateTransitionTime")
        doc["state"] = state
        doc["stateTransitionTime"] = stamp()
    touch(doc)


def new_pool(body: Doc, url: str) -> Doc:
    """A pool from a create body; the autoscale formula and interval are checked by the caller."""
    pool_id = check_id(body)
    if not body.get("vmSize"):
        raise missing("vmSize")
    autoscale = bool(body.get("enableAutoScale", False))
    given_targets = [n for n in ("targetDedicatedNodes", "targetLowPriorityNodes") if body.get(n) is not None]
    if autoscale and given_targets:
        raise invalid(given_targets[0], "targets cannot be given when enableAutoScale is true")
    if autoscale and not body.get("autoScaleFormula"):
        raise missing("autoScaleFormula")
    if not autoscale and not given_targets:
        raise missing("targetDedicatedNodes")
    start = body.get("startTask")
    if start is not None and (not isinstance(start, dict) or not start.get("commandLine")):
        raise missing("startTask.commandLine")
    created = stamp()
    pool: Doc = {
        **body,
        "url": f"{url}/pools/{pool_id}",
        "creationTime": created,
        "state": "active",
        "stateTransitionTime": created,
        "allocationState": "steady",
        "allocationStateTransitionTime": created,
        "taskSlotsPerNode": _int(body, "taskSlotsPerNode", 1, 1, 256),
        "taskSchedulingPolicy": {"nodeFillType": "spread", **(body.get("taskSchedulingPolicy") or {})},
        "enableAutoScale": autoscale,
        "currentDedicatedNodes": 0,
        "currentLowPriorityNodes": 0,
        "targetDedicatedNodes": _int(body, "targetDedicatedNodes", 0, 0, 10_000),
        "targetLowPriorityNodes": _int(body, "targetLowPriorityNodes", 0, 0, 10_000),
    }
    if not autoscale:
        pool["resizeTimeout"] = normalized(body.get("resizeTimeout") or "PT15M", "resizeTimeout")
    if pool["taskSchedulingPolicy"]["nodeFillType"] not in ("spread", "pack"):
        raise invalid("taskSchedulingPolicy.nodeFillType", "spread or pack")
    if pool["targetDedicatedNodes"] + pool["targetLowPriorityNodes"] > 0:
        pool["allocationState"] = "resizing"
    return touch(pool)


def new_job(body: Doc, url: str) -> Doc:
    job_id = check_id(body)
    if not isinstance(body.get("poolInfo"), dict) or not body["poolInfo"].get("poolId"):
        raise missing("poolInfo.poolId")  # auto pools are not emulated
    created = stamp()
    job: Doc = {
        **body,
        "url": f"{url}/jobs/{job_id}",
        "creationTime": created,
        "state": "active",
        "stateTransitionTime": created,
        "executionInfo": {"startTime": created, "poolId": body["poolInfo"]["poolId"]},
    }
    apply_job_settings(job, body, replace=True)
    return touch(job)


def apply_job_settings(job: Doc, body: Doc, *, replace: bool) -> None:
    """Update (PATCH: only what is given) or replace (PUT: the rest back to defaults) a job's settings."""
    defaults: Doc = {
        "priority": 0,
        "maxParallelTasks": -1,
        "allowTaskPreemption": False,
        "onAllTasksComplete": "noaction",
        "onTaskFailure": "noaction",
        "constraints": {},
        "metadata": [],
    }
    for key, default in defaults.items():
        if key in body or replace:
            job[key] = body.get(key, default) if body.get(key) is not None else default
    job["priority"] = _int(job, "priority", 0, -1000, 1000)
    job["maxParallelTasks"] = _int(job, "maxParallelTasks", -1, -1, 1_000_000)
    if job["maxParallelTasks"] == 0:
        raise invalid("maxParallelTasks", "-1 or at least 1")
    job["onAllTasksComplete"] = _choice(job, "onAllTasksComplete", ("noaction", "terminatejob"), "noaction")
    job["onTaskFailure"] = _choice(job, "onTaskFailure", ("noaction", "performexitoptionsjobaction"), "noaction")
    constraints = dict(job.get("constraints") or {})
    if constraints.get("maxWallClockTime") is not None:
        constraints["maxWallClockTime"] = normalized(constraints["maxWallClockTime"], "constraints.maxWallClockTime")
    constraints["maxTaskRetryCount"] = _int(constraints, "maxTaskRetryCount", 0, -1, 1_000_000)
    job["constraints"] = constraints


def task_constraints(given: Doc | None, job: Doc) -> Doc:
    given = dict(given or {})
    retries = job.get("constraints", {}).get("maxTaskRetryCount", 0)
    return {
        **given,
        "maxWallClockTime": normalized(given.get("maxWallClockTime"), "constraints.maxWallClockTime") or INFINITE,
        "retentionTime": normalized(given.get("retentionTime"), "constraints.retentionTime") or "P7D",
        "maxTaskRetryCount": _int(given, "maxTaskRetryCount", retries, -1, 1_000_000),
    }


def new_task(body: Doc, job: Doc, url: str) -> Doc:
    task_id = check_id(body)
    if not isinstance(body.get("commandLine"), str) or not body["commandLine"].strip():
        raise missing("commandLine")
    if body.get("dependsOn") and not job.get("usesTaskDependencies"):
        raise BatchError("TaskDependenciesNotSpecifiedOnJob", status=400)
    for resource in body.get("resourceFiles") or []:
        sources = [k for k in ("autoStorageContainerName", "storageContainerUrl", "httpUrl") if resource.get(k)]
        if len(sources) != 1:
            raise invalid(
                "resourceFiles", "each needs exactly one of autoStorageContainerName, storageContainerUrl, httpUrl"
            )
        if sources[0] == "httpUrl" and not resource.get("filePath"):
            raise missing("resourceFiles.filePath")
    for output in body.get("outputFiles") or []:
        if not output.get("filePattern"):
            raise missing("outputFiles.filePattern")
        if not (output.get("destination") or {}).get("container", {}).get("containerUrl"):
            raise missing("outputFiles.destination.container.containerUrl")
        condition = (output.get("uploadOptions") or {}).get("uploadCondition")
        if condition not in _UPLOAD_CONDITIONS:
            raise invalid("outputFiles.uploadOptions.uploadCondition", ", ".join(_UPLOAD_CONDITIONS))
    created = stamp()
    task: Doc = {
        **body,
        "url": f"{url}/jobs/{job['id']}/tasks/{task_id}",
        "creationTime": created,
        "state": "active",
        "stateTransitionTime": created,
        "constraints": task_constraints(body.get("constraints"), job),
        "requiredSlots": _int(body, "requiredSlots", 1, 1, 256),
        "executionInfo": {"retryCount": 0, "requeueCount": 0},
    }
    return touch(task)


def task_counts(tasks: list[Doc]) -> Doc:
    """Job task counts and slot counts; `running` includes `preparing`."""
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
