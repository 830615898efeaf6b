"""Fixtures: a local Batch service shared by a test module (each test with its own pool and job ids), a
service of a test's own where it restarts or re-clocks it, and the real client for either."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from azure.batch import BatchClient, models

from emulators.azurite import free_port
from emulators.batch_service.launcher import BatchServiceProcess
from emulators.batch_service.server import DEFAULT_ACTIVE_JOB_QUOTA
from tests.integration.batch_service.helpers import client_for

REPO = Path(__file__).resolve().parents[3]
TIME_SCALE = 120.0  # 30 s samples every 0.25 s, a 5-minute evaluation interval every 2.5 s
BOOT_S = 30.0  # emulated: 0.25 s real


def launch(
    folder: Path, time_scale: float = TIME_SCALE, boot_delay_s: float = BOOT_S,
    active_job_quota: int = DEFAULT_ACTIVE_JOB_QUOTA,
) -> BatchServiceProcess:  # fmt: skip
    return BatchServiceProcess.launch(REPO, folder / "data", free_port(), log_file=folder / "batch.log",
                                      time_scale=time_scale, boot_delay_s=boot_delay_s,
                                      active_job_quota=active_job_quota)  # fmt: skip


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BatchServiceProcess]:
    with launch(tmp_path_factory.mktemp("batch")) as svc:
        yield svc


@pytest.fixture(scope="module")
def batch(service: BatchServiceProcess) -> BatchClient:
    return client_for(service)


@pytest.fixture
def start_service(tmp_path: Path) -> Iterator[Callable[..., BatchServiceProcess]]:
    """Start a service of the test's own (stopped after the test)."""
    started: list[BatchServiceProcess] = []

    def start(
        time_scale: float = TIME_SCALE, boot_delay_s: float = BOOT_S, active_job_quota: int = DEFAULT_ACTIVE_JOB_QUOTA
    ) -> BatchServiceProcess:
        started.append(launch(tmp_path / f"batch{len(started)}", time_scale, boot_delay_s, active_job_quota))
        return started[-1]

    yield start
    for svc in started:
        svc.stop()


@dataclass(frozen=True)
class Names:
    pool: str
    job: str


@pytest.fixture
def pool_and_job(batch: BatchClient, unique: str) -> Callable[..., Names]:
    """A fixed-size pool and a job on it, with ids no other test uses."""

    def make(nodes: int = 1, slots: int = 1, start_task: models.BatchStartTask | None = None, **job: Any) -> Names:
        names = Names(pool=f"pool-{unique}", job=f"job-{unique}")
        batch.create_pool(models.BatchPoolCreateOptions(id=names.pool, vm_size="standard_nc4as_t4_v3",
                                                        target_dedicated_nodes=nodes, task_slots_per_node=slots,
                                                        start_task=start_task))  # fmt: skip
        batch.create_job(
            models.BatchJobCreateOptions(id=names.job, pool_info=models.BatchPoolInfo(pool_id=names.pool), **job)
        )
        return names

    return make
