from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from azure.batch import BatchClient, models
from azure.core.credentials import AzureNamedKeyCredential

from emulators.azurite import free_port
from emulators.batch_service.launcher import BatchServiceProcess

pytestmark = pytest.mark.integration
TIME_SCALE = 120.0  # 30 s samples every 0.25 s, a 5-minute evaluation interval every 2.5 s
BOOT_S = 30.0  # emulated: 0.25 s real


@pytest.fixture
def service(tmp_path: Path) -> Iterator[BatchServiceProcess]:
    svc = BatchServiceProcess(tmp_path / "batch", free_port(), tmp_path / "batch.log", time_scale=TIME_SCALE,
                              boot_delay_s=BOOT_S)  # fmt: skip
    svc.start()
    yield svc
    svc.stop()


def client_for(svc: BatchServiceProcess, key: str | None = None) -> BatchClient:
    return BatchClient(svc.endpoint, AzureNamedKeyCredential(svc.account, key or svc.account_key), retry_total=0)


@pytest.fixture
def batch(service: BatchServiceProcess) -> BatchClient:
    return client_for(service)


@pytest.fixture
def pool_and_job(batch: BatchClient) -> Callable[..., str]:
    def make(nodes: int = 1, slots: int = 1, start_task: models.BatchStartTask | None = None) -> str:
        batch.create_pool(models.BatchPoolCreateOptions(id="pool", vm_size="standard_nc4as_t4_v3",
                                                        target_dedicated_nodes=nodes, task_slots_per_node=slots,
                                                        start_task=start_task))  # fmt: skip
        batch.create_job(models.BatchJobCreateOptions(id="job", pool_info=models.BatchPoolInfo(pool_id="pool")))
        return "job"

    return make
