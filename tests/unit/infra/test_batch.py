"""The Batch account and GPU pool: Entra-only account, the formula file the local stack runs, a 5-minute
interval, the node identity, an NVIDIA image, and a start task that installs what the task command runs."""

from __future__ import annotations

import re

from shared.pipeline_settings import DEFAULT_TASK_COMMAND
from tests.unit.infra import bicep

BATCH = bicep.module("batch")
ACCOUNT = bicep.resource(BATCH, "batch")
POOL = bicep.resource(BATCH, "pool")
START = POOL["properties"]["startTask"]
START_SCRIPT = (bicep.INFRA / "node" / "start-task.sh").read_text()
MAIN_PARAMS = bicep.main()["parameters"]


def test_account_accepts_only_entra_id() -> None:
    assert ACCOUNT["properties"]["allowedAuthenticationModes"] == ["AAD"]
    assert ACCOUNT["properties"]["poolAllocationMode"] == "poolAllocationMode"


def test_allocation_mode_is_a_parameter_and_user_subscription_brings_its_key_vault() -> None:
    assert MAIN_PARAMS["poolAllocationMode"]["default"] == "BatchService"
    allowed = MAIN_PARAMS["poolAllocationMode"]["decorators"]
    assert any(d.get("argument") == ["BatchService", "UserSubscription"] for d in allowed if d["type"] == "allowed")
    vault = bicep.main()["modules"]["keyVault"]["config"]
    assert vault["condition"] == "userSubscription"
    assert bicep.render(ACCOUNT["properties"]["keyVaultReference"]).startswith("conditional(userSubscription, ")


def test_formula_is_the_file_the_local_batch_service_and_the_tests_run() -> None:
    autoscale = POOL["properties"]["scaleSettings"]["autoScale"]
    # the pool's formula is the file with its knob lines replaced (tests/unit/infra/test_autoscale_knobs.py)
    _, call = bicep.replaces(BATCH, autoscale["formula"])
    assert call["type"] == "load_text_content"
    deployed = (bicep.MODULES / call["parameters"]["file_path"]).resolve()
    assert deployed == bicep.INFRA / "autoscale.formula"
    local_pool = (bicep.REPO / "sitelens" / "local_pool.py").read_text()
    assert '"infra" / "autoscale.formula"' in local_pool
    assert autoscale["evaluationInterval"] == "PT5M"
    assert "fixedScale" not in POOL["properties"]["scaleSettings"]


def test_pool_size_slots_and_gpu_image_are_parameters() -> None:
    props = POOL["properties"]
    assert props["vmSize"] == "vmSize" and MAIN_PARAMS["vmSize"]["default"] == "Standard_NC4as_T4_v3"
    assert props["taskSlotsPerNode"] == "taskSlotsPerNode"
    assert props["taskSchedulingPolicy"] == {"nodeFillType": "Pack"}
    vm = props["deploymentConfiguration"]["virtualMachineConfiguration"]
    assert vm == {"imageReference": "image", "nodeAgentSkuId": "nodeAgentSkuId"}
    image = MAIN_PARAMS["nodeImage"]["default"]
    assert (image["publisher"], image["offer"]) == ("microsoft-dsvm", "ubuntu-hpc")  # ships NVIDIA drivers
    # `latest`: the package's CUDA 13 runtime needs driver r580+, and no pinned version carrying it is checked; the
    # start task refuses an older driver (tests/unit/node/test_start_driver.py). An operator pins a checked one.
    assert image["version"] == "latest"
    assert "needs NVIDIA driver r580" in bicep.INFRA.joinpath("main.bicep").read_text()  # the reason stays beside it
    assert MAIN_PARAMS["nodeAgentSkuId"]["default"] == f"batch.node.ubuntu {image['sku'][:2]}.{image['sku'][2:]}"


def test_nodes_run_as_the_node_identity() -> None:
    assert POOL["identity"] == {"type": "UserAssigned", "userAssignedIdentities": {"'${nodeIdentityId}'": {}}}
    call = bicep.body(bicep.main()["modules"]["batch"]["config"])["params"]
    assert bicep.render(call["nodeIdentityId"]) == "identities.outputs.nodeIdentityId"
    assert bicep.render(call["nodeClientId"]) == "identities.outputs.nodeClientId"


def test_start_task_downloads_its_files_with_the_node_identity() -> None:
    assert START["commandLine"] == "/bin/bash start-task.sh"
    files = START["resourceFiles"]
    assert files["loop_type"]["detail"]["array_name"] == "nodeFiles"
    assert files["config"] == {
        "httpUrl": "${nodePackageUrl}/${file}",
        "filePath": "file",
        "identityReference": {"resourceId": "nodeIdentityId"},
    }
    names = bicep.variable(BATCH, "nodeFiles")
    assert names == ["start-task.sh", "batch_tasks.zip", "requirements.txt"]
    for name in names:
        assert name in START_SCRIPT
    assert bicep.variable(BATCH, "nodePackageUrl") == "${blobEndpoint}${nodePackageContainer}"


def test_start_task_gives_the_node_server_its_storage_and_identity() -> None:
    settings = START["environmentSettings"]
    assert settings["loop_type"]["detail"]["object_name"] == "startTaskEnvironment"
    assert bicep.render(settings["config"]) == "{name: setting.key, value: string(setting.value)}"
    call = bicep.variable(BATCH, "startTaskEnvironment")["function"]
    assert call["type"] == "union" and call["parameters"]["arg_2"] == "nodeSettings"  # the operator's, last
    env = call["parameters"]["arg_1"]
    assert env == {
        "SITELENS_STORAGE_BLOB_URL": "blobEndpoint",
        "SITELENS_STORAGE_QUEUE_URL": "queueEndpoint",
        "SITELENS_NODE_CLIENT_ID": "nodeClientId",
        "SITELENS_WARM_MODELS": "defaultModel",
        # telemetry to Application Insights as the node identity (docs/telemetry.md)
        "APPLICATIONINSIGHTS_CONNECTION_STRING": "insightsConnectionString",
        "APPLICATIONINSIGHTS_AUTHENTICATION_STRING": "ClientId=${nodeClientId};Authorization=AAD",
    }
    assert START["waitForSuccess"] is True
    assert START["userIdentity"] == {"autoUser": {"scope": "Pool", "elevationLevel": "Admin"}}


def test_start_script_builds_the_venv_the_task_command_runs() -> None:
    task_command = bicep.variable(bicep.main(), "taskCommand")
    assert task_command == DEFAULT_TASK_COMMAND
    python = re.search(r"\$AZ_BATCH_NODE_SHARED_DIR/(\S+)/bin/python", task_command)
    assert python and python.group(1) == "sitelens/current"
    assert 'ROOT="$AZ_BATCH_NODE_SHARED_DIR/sitelens"' in START_SCRIPT
    assert 'mv -T "$ROOT/current.new" "$ROOT/current"' in START_SCRIPT
    started = re.search(r'^\s*"\$venv/bin/python" -m batch_tasks\.start --supervisor systemd', START_SCRIPT, re.M)
    assert started  # run, not exec'd: the old venvs go only once it succeeded (tests/unit/infra/test_start_task.py)
    assert START_SCRIPT.index('! -name "$version" -exec rm -rf') > started.end()
    assert '-r "$HERE/requirements.txt"' in START_SCRIPT
