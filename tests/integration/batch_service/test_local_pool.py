"""The local stack's pool (sitelens/local_pool.py) on the local Batch service, through the real client: a pool
an earlier start left (the service keeps its pools across restarts) takes this start's settings."""

from __future__ import annotations

import pytest
from azure.batch import BatchClient, models

from emulators.batch_service.launcher import BatchServiceProcess
from sitelens.local_pool import POOL_ID, LocalPool
from tests.integration.batch_service.conftest import REPO

pytestmark = pytest.mark.integration
EARLIER = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
)
NOW = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;BlobEndpoint=http://127.0.0.1:20000/devstoreaccount1;"


@pytest.fixture
def local_pool(service: BatchServiceProcess, batch: BatchClient) -> LocalPool:
    """The stack's pool object, with no pool on the service yet (every test here uses the one pool id)."""
    if POOL_ID in {p.id for p in batch.list_pools()}:
        batch.begin_delete_pool(POOL_ID, polling_interval=1).result()
    return LocalPool(service.endpoint, service.account_name, service.account_key, REPO)


def start_env(pool: models.BatchPool) -> dict[str, str | None]:
    assert pool.start_task is not None
    return {s.name: s.value for s in pool.start_task.environment_settings or []}


def test_a_pool_kept_from_a_start_on_other_storage_ports_gets_this_starts_connection(local_pool, batch):
    local_pool.ensure(EARLIER)
    local_pool.ensure(NOW)  # `sitelens dev` again, Azurite on other ports: the nodes must write results there
    assert start_env(batch.get_pool(POOL_ID))["SITELENS_STORAGE_CONNECTION"] == NOW


def test_a_pool_kept_from_before_pack_scheduling_gets_it_and_the_formula(local_pool, batch):
    batch.create_pool(  # as a version that gave Batch's default fill type and another formula left it
        models.BatchPoolCreateOptions(
            id=POOL_ID,
            vm_size="standard_nc4as_t4_v3",
            enable_auto_scale=True,
            auto_scale_formula="$TargetDedicatedNodes = 0;",
            start_task=models.BatchStartTask(command_line="python -m batch_tasks.start --supervisor detached"),
        )
    )
    local_pool.ensure(NOW)
    pool = batch.get_pool(POOL_ID)
    assert pool.task_scheduling_policy.node_fill_type == models.BatchNodeFillType.PACK
    assert pool.auto_scale_formula == (REPO / "infra" / "autoscale.formula").read_text()
    assert start_env(pool)["SITELENS_STORAGE_CONNECTION"] == NOW


def test_a_pool_with_this_starts_settings_is_kept_as_it_is(local_pool, batch):
    local_pool.ensure(NOW)
    first = batch.get_pool(POOL_ID)
    local_pool.ensure(NOW)  # created again, its nodes would boot again for nothing
    again = batch.get_pool(POOL_ID)
    assert again.creation_time == first.creation_time
