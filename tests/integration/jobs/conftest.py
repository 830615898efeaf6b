"""The local Batch service for the job tests that submit to it: one per test, and a client for it; and a job
store of either kind, the real one on Azurite and the in-memory fake, for tests that hold the two to one contract.

One service per test, not per module: a day's Batch job (`sitelens-{day}`) serves every model, so tests sharing a
service would share it whatever their models and pools, and one test's termination of it (or its reconciler's,
days on) would refuse the next test's tasks. A service starts in well under a second."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.batch import BatchClient
from azure.core.credentials import AzureNamedKeyCredential
from azure.data.tables import TableServiceClient

from emulators.azurite import free_port
from emulators.batch_service.launcher import BatchServiceProcess
from emulators.batch_service.server import DEFAULT_ACTIVE_JOB_QUOTA
from shared.adapters.azure_job_store import TableJobStore
from shared.jobs.ports import JobStore
from tests.integration.jobs.real_world import RealWorld
from tests.unit.jobs.fakes import MemoryJobStore

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def active_job_quota() -> int:
    """The local Batch service's quota of active jobs: Azure's default, unless a module overrides this fixture."""
    return DEFAULT_ACTIVE_JOB_QUOTA


@pytest.fixture
def batch_service(tmp_path_factory: pytest.TempPathFactory, active_job_quota: int) -> Iterator[BatchServiceProcess]:
    folder = tmp_path_factory.mktemp("batch")
    with BatchServiceProcess.launch(REPO, folder / "data", free_port(), log_file=folder / "batch.log",
                                    active_job_quota=active_job_quota) as svc:  # fmt: skip
        yield svc


@pytest.fixture
def batch_client(batch_service: BatchServiceProcess) -> BatchClient:
    return BatchClient(batch_service.endpoint, AzureNamedKeyCredential(batch_service.account_name,
                                                                       batch_service.account_key))  # fmt: skip


@pytest.fixture
def real_world(storage_connection: str, unique: str, batch_client: BatchClient) -> RealWorld:
    """The pipeline on Azurite and the local Batch service, with the test's clock."""
    return RealWorld(storage_connection, unique, batch_client)


@pytest.fixture(params=["table", "memory"])
def either_store(request: pytest.FixtureRequest, unique: str) -> JobStore:
    """TableJobStore on Azurite, then MemoryJobStore: the fake must keep the contract the real store keeps."""
    if request.param == "memory":
        return MemoryJobStore()
    tables = TableServiceClient.from_connection_string(request.getfixturevalue("storage_connection"))
    return TableJobStore(tables, prefix=f"t{unique}")
