"""Create bodies checked as the service checks them, and the defaults it adds."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from emulators.batch_service.documents import apply_job_settings, new_job, new_pool, new_task
from emulators.batch_service.wire import INFINITE, BatchError

URL = "http://127.0.0.1:1"


def error(call: Callable[..., object], *args: object, **kwargs: object) -> tuple[str, str | None]:
    with pytest.raises(BatchError) as e:
        call(*args, **kwargs)
    return e.value.code, e.value.values.get("PropertyName")


def test_pool_bodies():
    assert error(new_pool, {"vmSize": "x", "targetDedicatedNodes": 1}, URL) == ("MissingRequiredProperty", "id")
    assert error(new_pool, {"id": "bad id!", "vmSize": "x"}, URL)[0] == "InvalidPropertyValue"
    assert error(new_pool, {"id": "p", "targetDedicatedNodes": 1}, URL) == ("MissingRequiredProperty", "vmSize")
    autoscale = {"id": "p", "vmSize": "x", "enableAutoScale": True, "autoScaleFormula": "$TargetDedicatedNodes=1;"}
    assert error(new_pool, {**autoscale, "targetDedicatedNodes": 1}, URL)[0] == "InvalidPropertyValue"
    assert error(new_pool, {**autoscale, "taskSlotsPerNode": 0}, URL)[0] == "InvalidPropertyValue"
    pool = new_pool({"id": "P1", "vmSize": "x", "targetDedicatedNodes": 2, "resizeTimeout": "PT05M00S"}, URL)
    assert (pool["allocationState"], pool["resizeTimeout"], pool["taskSlotsPerNode"]) == ("resizing", "PT5M", 1)
    assert pool["taskSchedulingPolicy"] == {"nodeFillType": "spread"}


def test_job_bodies_and_replacement():
    assert error(new_job, {"id": "j"}, URL) == ("MissingRequiredProperty", "poolInfo.poolId")
    job = new_job({"id": "j", "poolInfo": {"poolId": "p"}, "priority": 10, "someFutureField": 1}, URL)
    assert (job["priority"], job["onAllTasksComplete"], job["someFutureField"]) == (10, "noaction", 1)
    apply_job_settings(job, {"onAllTasksComplete": "terminatejob"}, replace=False)
    assert (job["priority"], job["onAllTasksComplete"]) == (10, "terminatejob")
    apply_job_settings(job, {"constraints": {"maxWallClockTime": "PT01H00M"}}, replace=True)
    assert (job["priority"], job["onAllTasksComplete"], job["constraints"]["maxWallClockTime"]) == (
        0,
        "noaction",
        "PT1H",
    )
    assert error(apply_job_settings, job, {"priority": 5000}, replace=False) == ("InvalidPropertyValue", "priority")


def test_task_bodies():
    job = new_job({"id": "j", "poolInfo": {"poolId": "p"}, "constraints": {"maxTaskRetryCount": 2}}, URL)
    assert error(new_task, {"id": "t"}, job, URL) == ("MissingRequiredProperty", "commandLine")
    task = new_task({"id": "t", "commandLine": "true", "constraints": {"maxWallClockTime": "PT30M00S"}}, job, URL)
    assert task["constraints"] == {"maxWallClockTime": "PT30M", "retentionTime": "P7D", "maxTaskRetryCount": 2}
    assert new_task({"id": "u", "commandLine": "true"}, job, URL)["constraints"]["maxWallClockTime"] == INFINITE
    both = {"id": "t", "commandLine": "true", "resourceFiles": [{"httpUrl": "http://x", "storageContainerUrl": "y"}]}
    assert error(new_task, both, job, URL)[0] == "InvalidPropertyValue"
    destination = {"container": {"containerUrl": "u"}}
    no_condition = {"id": "t", "commandLine": "true", "outputFiles": [{"filePattern": "*", "destination": destination}]}
    assert error(new_task, no_condition, job, URL)[0] == "InvalidPropertyValue"
    assert error(new_task, {"id": "t", "commandLine": "true", "dependsOn": {"taskIds": ["a"]}}, job, URL)[0] == (
        "TaskDependenciesNotSpecifiedOnJob"
    )
