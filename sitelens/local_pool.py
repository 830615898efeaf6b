"""The local counterpart of the Bicep pool: the GPU pool on the local Batch service, created with the SDK.

Same formula file as Azure (`infra/autoscale.formula`), same start task module, same task command, same task
scheduling (`pack`: a node's slots fill before the next node's, so autoscale can remove nodes that fall
idle); only the node's Python (the repository's virtualenv, which the local Batch service puts first on
PATH), the model folder (the fetched one in the repository) and the evaluation interval's wall-clock length
differ.

The pool is this stack's settings: one left by an earlier start whose settings differ (Azurite on other
ports, other knobs, another fill type) is deleted and created again. Azure would take a pool update and a
reboot of each node to run the new start task; the local service has neither, and its nodes are booting
again anyway when the stack starts (tasks they ran are requeued, and run on the new pool's nodes).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from azure.batch import BatchClient, models
from azure.core.credentials import AzureNamedKeyCredential
from azure.core.exceptions import ResourceExistsError

from autoscale.knobs import with_knobs
from emulators.batch_service.identity import NODE_IDENTITY_ID
from shared.pipeline_settings import PipelineSettings

POOL_ID = PipelineSettings.pool_id  # the app's default pool, as Bicep names it
VM_SIZE = "standard_nc4as_t4_v3"  # what Bicep deploys; the local service only records it
TASK_SLOTS_PER_NODE = 4  # tasks feed the node server's batcher concurrently
NODE_FILL_TYPE = models.BatchNodeFillType.PACK  # Bicep's taskSchedulingPolicy.nodeFillType
EVALUATION_INTERVAL = timedelta(minutes=5)  # Azure's minimum; the local clock runs it faster
TASK_COMMAND = "python -m batch_tasks.task {job_id} {input}"
DELETE_TIMEOUT_S = 60.0  # a local pool goes in a few engine ticks: its nodes' tasks are requeued, not waited for
# Every setting ensure() gives the pool, compared as the SDK reads them back (the wire forms differ: PT05M00S, PT5M).
SETTINGS = ("vm_size", "virtual_machine_configuration", "task_slots_per_node", "task_scheduling_policy",
            "enable_auto_scale", "auto_scale_formula", "auto_scale_evaluation_interval", "start_task")  # fmt: skip

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LocalPool:
    endpoint: str
    account: str
    key: str
    repo: Path
    # The formula's knobs, replaced as Bicep replaces its parameters (none: the file's defaults).
    knobs: Mapping[str, float] = field(default_factory=dict)
    telemetry_dir: Path | None = None  # the node servers export their telemetry here (docs/telemetry.md#local)
    # Node server settings on top of these (batch_tasks/node/settings.py), as the start task's environment.
    node_env: Mapping[str, str] = field(default_factory=dict)

    def client(self) -> BatchClient:
        return BatchClient(self.endpoint, AzureNamedKeyCredential(self.account, self.key))

    def ensure(self, storage_connection: str) -> None:
        """Create the pool, or create it again where the one a restarted service kept has other settings."""
        pool, client = self.settings(storage_connection), self.client()
        try:
            client.create_pool(pool)
            return
        except ResourceExistsError:
            pass
        existing = client.get_pool(POOL_ID)
        changed = [name for name in SETTINGS if getattr(existing, name) != getattr(pool, name)]
        if existing.state == models.BatchPoolState.DELETING:  # left half-deleted: it would vanish under the stack
            changed.append("state")
        if not changed:
            return
        log.info("the local pool %s differs from this stack's (%s): creating it again", POOL_ID, ", ".join(changed))
        deletion = client.begin_delete_pool(POOL_ID, polling_interval=1)
        deletion.result(timeout=DELETE_TIMEOUT_S)
        if not deletion.done():
            raise TimeoutError(f"the local Batch service did not delete pool {POOL_ID} in {DELETE_TIMEOUT_S:.0f} s")
        client.create_pool(pool)

    def settings(self, storage_connection: str) -> models.BatchPoolCreateOptions:
        """The pool as this stack wants it: Bicep's pool with the local differences above."""
        formula = with_knobs((self.repo / "infra" / "autoscale.formula").read_text(), self.knobs)
        env = {
            "SITELENS_MODELS_DIR": str(self.repo / "models"),
            "SITELENS_STORAGE_CONNECTION": storage_connection,
        }
        if self.telemetry_dir is not None:
            env["SITELENS_TELEMETRY_DIR"] = str(self.telemetry_dir)
        env.update(self.node_env)
        return models.BatchPoolCreateOptions(
            id=POOL_ID,
            vm_size=VM_SIZE,
            virtual_machine_configuration=models.VirtualMachineConfiguration(
                image_reference=models.BatchVmImageReference(
                    publisher="microsoft-dsvm", offer="ubuntu-hpc", sku="2204", version="latest"
                ),
                node_agent_sku_id="batch.node.ubuntu 22.04",
            ),
            task_slots_per_node=TASK_SLOTS_PER_NODE,
            task_scheduling_policy=models.BatchTaskSchedulingPolicy(node_fill_type=NODE_FILL_TYPE),
            enable_auto_scale=True,
            auto_scale_formula=formula,
            auto_scale_evaluation_interval=EVALUATION_INTERVAL,
            start_task=models.BatchStartTask(
                command_line="python -m batch_tasks.start --supervisor detached",
                environment_settings=[models.EnvironmentSetting(name=k, value=v) for k, v in env.items()],
                user_identity=models.UserIdentity(
                    auto_user=models.AutoUserSpecification(
                        scope=models.AutoUserScope.POOL, elevation_level=models.ElevationLevel.ADMIN
                    )
                ),
                wait_for_success=True,
                max_task_retry_count=2,
            ),
        )

    def app_settings(self, storage_connection: str) -> dict[str, str]:
        """What the Functions app needs to submit here (in Azure these come from Bicep's app settings)."""
        return {
            "SITELENS_BATCH_URL": self.endpoint,
            "SITELENS_BATCH_ACCOUNT": self.account,
            "SITELENS_BATCH_KEY": self.key,
            "SITELENS_BATCH_POOL_ID": POOL_ID,
            "SITELENS_TASK_COMMAND": TASK_COMMAND,
            # Task inputs are read as the pool's identity, as in Azure (the local service's stand-in for it).
            "SITELENS_NODE_IDENTITY_ID": NODE_IDENTITY_ID,
            # The Azurite development account's well-known key: valid only against the emulator.
            "SITELENS_TASK_ENV": json.dumps({"SITELENS_STORAGE_CONNECTION": storage_connection}),
        }
