"""The local counterpart of the Bicep pool: the GPU pool on the local Batch service, created with the SDK.

Same formula file as Azure (`infra/autoscale.formula`), same start task module, same task command, same task
scheduling (`pack`: a node's slots fill before the next node's, so autoscale can remove nodes that fall
idle); only the node's Python (the repository's virtualenv, which the local Batch service puts first on
PATH), the model folder (the fetched one in the repository) and the evaluation interval's wall-clock length
differ.
"""

from __future__ import annotations

import contextlib
import json
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
        """Create the pool if absent (a restarted service keeps it; its nodes run the start task again)."""
        formula = with_knobs((self.repo / "infra" / "autoscale.formula").read_text(), self.knobs)
        env = {
            "SITELENS_MODELS_DIR": str(self.repo / "models"),
            "SITELENS_STORAGE_CONNECTION": storage_connection,
        }
        if self.telemetry_dir is not None:
            env["SITELENS_TELEMETRY_DIR"] = str(self.telemetry_dir)
        env.update(self.node_env)
        pool = models.BatchPoolCreateOptions(
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
        with contextlib.suppress(ResourceExistsError):
            self.client().create_pool(pool)

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
