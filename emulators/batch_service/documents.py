"""Building the REST documents of new resources, and the list query options ($filter, $select)."""

from __future__ import annotations

import re
from typing import Any

from emulators.batch_service.store import Doc
from emulators.batch_service.wire import BatchError, new_etag, stamp

INFINITE = "P10675199DT2H48M5.4775807S"  # .NET TimeSpan.MaxValue, the service's "unlimited"
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_CLAUSE = re.compile(r"^\s*([A-Za-z/]+)\s+eq\s+'([^']*)'\s*$")


def check_id(doc: Doc) -> str:
    value = doc.get("id")
    if not isinstance(value, str):
        raise BatchError("MissingRequiredProperty", "The request body is missing the required property: id")
    if not _ID.match(value):
        raise BatchError("InvalidPropertyValue", "The value provided for id is invalid.", {"PropertyName": "id"})
    return value


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
    pool_id = check_id(body)
    created = stamp()
    pool: Doc = {
        **body,
        "url": f"{url}/pools/{pool_id}",
        "creationTime": created,
        "state": "active",
        "stateTransitionTime": created,
        "allocationState": "steady",
        "allocationStateTransitionTime": created,
        "vmSize": body.get("vmSize", "standard_d2s_v3"),
        "taskSlotsPerNode": int(body.get("taskSlotsPerNode", 1)),
        "enableAutoScale": bool(body.get("enableAutoScale", False)),
        "currentDedicatedNodes": 0,
        "currentLowPriorityNodes": 0,
        "targetDedicatedNodes": int(body.get("targetDedicatedNodes", 0)),
        "targetLowPriorityNodes": int(body.get("targetLowPriorityNodes", 0)),
    }
    if pool["enableAutoScale"]:
        pool.setdefault("autoScaleEvaluationInterval", "PT15M")
    if pool["targetDedicatedNodes"] + pool["targetLowPriorityNodes"] > 0:
        pool["allocationState"] = "resizing"
    return touch(pool)


def new_job(body: Doc, url: str) -> Doc:
    job_id = check_id(body)
    if not body.get("poolInfo", {}).get("poolId"):
        raise BatchError("MissingRequiredProperty", "The request body is missing the required property: poolInfo")
    created = stamp()
    job: Doc = {
        "priority": 0,
        "onAllTasksComplete": "noaction",
        "onTaskFailure": "noaction",
        **body,
        "url": f"{url}/jobs/{job_id}",
        "creationTime": created,
        "state": "active",
        "stateTransitionTime": created,
        "executionInfo": {"startTime": created, "poolId": body["poolInfo"]["poolId"]},
    }
    return touch(job)


def new_task(body: Doc, job: Doc, url: str) -> Doc:
    task_id = check_id(body)
    if not isinstance(body.get("commandLine"), str):
        raise BatchError("MissingRequiredProperty", "The request body is missing the required property: commandLine")
    constraints = {
        "maxWallClockTime": INFINITE,
        "retentionTime": "P7D",
        "maxTaskRetryCount": int(job.get("constraints", {}).get("maxTaskRetryCount", 0)),
        **body.get("constraints", {}),
    }
    created = stamp()
    task: Doc = {
        **body,
        "url": f"{url}/jobs/{job['id']}/tasks/{task_id}",
        "creationTime": created,
        "state": "active",
        "stateTransitionTime": created,
        "constraints": constraints,
        "requiredSlots": int(body.get("requiredSlots", 1)),
        "executionInfo": {"retryCount": 0, "requeueCount": 0},
    }
    return touch(task)


def _field(doc: Doc, path: str) -> Any:
    value: Any = doc
    for part in path.split("/"):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def matches(doc: Doc, filter_text: str | None) -> bool:
    """`$filter` as sitelens uses it: `field eq 'value'` clauses joined by `and` (paths with `/`)."""
    if not filter_text:
        return True
    for clause in re.split(r"\s+and\s+", filter_text):
        m = _CLAUSE.match(clause)
        if m is None:
            raise BatchError("InvalidQueryParameterValue", f"Unsupported $filter clause: {clause}")
        if str(_field(doc, m.group(1))) != m.group(2):
            return False
    return True


def select(doc: Doc, select_text: str | None) -> Doc:
    if not select_text:
        return {k: v for k, v in doc.items() if not k.startswith("_")}
    wanted = {s.strip() for s in select_text.split(",")}
    return {k: v for k, v in doc.items() if k in wanted}
