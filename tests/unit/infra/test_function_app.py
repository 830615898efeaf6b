"""The Functions app: Flex Consumption, Python, its own identity, identity-based storage settings, every
setting sitelens reads, and no setting that holds a key or a connection string."""

from __future__ import annotations

import ast
import re
from typing import Any

from tests.unit.infra import bicep

FUNCTIONS = bicep.module("functions")
APP = bicep.resource(FUNCTIONS, "app")
MAIN_CALL = bicep.body(bicep.main()["modules"]["functions"]["config"])["params"]
# Read by the code, but never to be set in Azure: Shared Key auth to Batch (the app uses its identity),
# and loopback webhooks (shared/config.py refuses them there).
FORBIDDEN_IN_AZURE = {"SITELENS_BATCH_ACCOUNT", "SITELENS_BATCH_KEY", "SITELENS_WEBHOOKS_ALLOW_LOOPBACK"}
# Per-task environment the submitter sets on each Batch task, not app settings.
TASK_VARIABLES = {"SITELENS_JOB_ID", "SITELENS_MODEL", "SITELENS_TASK_TIMEOUT_S", "SITELENS_TASK_TOKEN"}  # a task's own
# Classic settings that Flex Consumption moves into functionAppConfig or rejects.
NOT_ON_FLEX = {
    "FUNCTIONS_WORKER_RUNTIME",
    "FUNCTIONS_EXTENSION_VERSION",
    "WEBSITE_RUN_FROM_PACKAGE",
    "WEBSITE_CONTENTSHARE",
    "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
    "SCM_DO_BUILD_DURING_DEPLOYMENT",
}
SECRET_LOOKING = re.compile(r"listKeys|primaryKey|secondaryKey|AccountKey|SharedAccessKey|connectionString", re.I)


def settings() -> dict[str, Any]:
    """Name → expression of every app setting: functions.bicep's own, then main.bicep's SITELENS_* object (the
    operator's extraAppSettings, merged last, are empty unless a parameter file sets them)."""
    loop = bicep.at(APP, "properties/siteConfig/appSettings")
    assert loop["loop_type"]["type"] == "object"
    # pycep hands the object a loop runs over back as the text of its tree.
    source = ast.literal_eval(loop["loop_type"]["detail"]["object_name"])
    assert bicep.render(source) == "union(platformSettings, sitelensSettings, extraAppSettings)"
    assert bicep.render(loop["config"]) == "{name: item.key, value: string(item.value)}"
    platform = bicep.variable(FUNCTIONS, "platformSettings")
    sitelens = bicep.variable(bicep.main(), MAIN_CALL["sitelensSettings"])
    assert not set(platform) & set(sitelens)
    return {**platform, **sitelens}


def read_by_the_app() -> set[str]:
    """Every SITELENS_* name the Functions app's code reads (function_app.py and shared/)."""
    files = [bicep.REPO / "function_app.py", *sorted((bicep.REPO / "shared").rglob("*.py"))]
    return {name for path in files for name in re.findall(r"\bSITELENS_[A-Z][A-Z0-9_]*\b", path.read_text())}


def test_flex_consumption_python_plan() -> None:
    plan = bicep.resource(FUNCTIONS, "plan")
    assert plan["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    assert plan["properties"] == {"reserved": True, "zoneRedundant": "zoneRedundant"}
    config = APP["properties"]["functionAppConfig"]
    assert config["runtime"] == {"name": "python", "version": "pythonVersion"}
    assert config["scaleAndConcurrency"] == {
        "maximumInstanceCount": "maximumInstanceCount",
        "instanceMemoryMB": "instanceMemoryMB",
    }
    assert bicep.main()["parameters"]["pythonVersion"]["default"] == "3.11"


def test_a_zone_redundant_plan_is_a_parameter_off_by_default() -> None:
    # Flex Consumption spreads a zone-redundant plan's instances over the zones, at the cost of always-ready ones:
    # an operator's choice, never a surprise on the bill.
    assert MAIN_CALL["zoneRedundant"] == "zoneRedundant"
    assert bicep.main()["parameters"]["zoneRedundant"]["default"] is False  # azd and new environments
    for env, redundant in (("prod", "false"), ("dev", "false")):
        text = (bicep.INFRA / f"main.{env}.bicepparam").read_text()
        assert re.findall(r"^param zoneRedundant = (\w+)$", text, re.M) == [redundant], env


def test_runs_as_its_user_assigned_identity_including_deployments() -> None:
    assert APP["identity"] == {"type": "UserAssigned", "userAssignedIdentities": {"'${identityId}'": {}}}
    storage = APP["properties"]["functionAppConfig"]["deployment"]["storage"]
    assert storage["authentication"] == {
        "type": "UserAssignedIdentity",
        "userAssignedIdentityResourceId": "identityId",
    }
    assert bicep.render(MAIN_CALL["identityId"]) == "identities.outputs.functionIdentityId"


def test_https_only_tls_1_2_no_ftp_no_basic_auth() -> None:
    assert APP["properties"]["httpsOnly"] is True
    site = APP["properties"]["siteConfig"]
    assert site["minTlsVersion"] == "1.2"
    assert site["ftpsState"] == "Disabled"
    assert site["remoteDebuggingEnabled"] is False
    for policy in ("ftpCredentials", "scmCredentials"):
        assert bicep.resource(FUNCTIONS, policy)["properties"] == {"allow": False}


def test_host_storage_uses_the_identity() -> None:
    s = settings()
    for service in ("blob", "queue", "table"):
        assert s[f"AzureWebJobsStorage__{service}ServiceUri"] == f"{service}Endpoint"
    assert s["AzureWebJobsStorage__credential"] == "managedidentity"
    assert s["AzureWebJobsStorage__clientId"] == "identityClientId"
    assert "AzureWebJobsStorage" not in s
    assert s["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"] == "ClientId=${identityClientId};Authorization=AAD"


def test_every_setting_the_app_reads_is_set() -> None:
    expected = read_by_the_app() - FORBIDDEN_IN_AZURE - TASK_VARIABLES
    assert len(expected) >= 15, "the scan of the code found too few settings to be right"
    assert expected == {name for name in settings() if name.startswith("SITELENS_")}


def test_no_setting_holds_a_key_or_a_connection_string() -> None:
    s = settings()
    assert not FORBIDDEN_IN_AZURE & set(s)
    assert not NOT_ON_FLEX & set(s)
    for name, value in s.items():
        if name == "APPLICATIONINSIGHTS_CONNECTION_STRING":
            # It names the component; with local auth disabled it cannot ingest without the identity's token.
            assert bicep.render(MAIN_CALL["insightsConnectionString"]) == "monitoring.outputs.insightsConnectionString"
            continue
        assert not SECRET_LOOKING.search(name), name
        assert not SECRET_LOOKING.search(bicep.render(value)), f"{name} = {bicep.render(value)}"


def test_batch_settings_point_at_the_pool_and_its_identity() -> None:
    s = settings()
    assert bicep.render(s["SITELENS_BATCH_URL"]) == "batch.outputs.batchEndpoint"
    assert s["SITELENS_BATCH_POOL_ID"] == "poolId"
    assert bicep.render(s["SITELENS_NODE_IDENTITY_ID"]) == "identities.outputs.nodeIdentityId"
    assert s["SITELENS_TASK_ENV"] == "taskEnvironmentSetting"
    assert bicep.render(bicep.variable(bicep.main(), "taskEnvironmentSetting")) == (
        "string(union(taskEnvironment, operatorTaskEnvironment))"
    )
    task_env = bicep.variable(bicep.main(), "taskEnvironment")
    assert {k: bicep.render(v) for k, v in task_env.items()} == {
        "SITELENS_STORAGE_BLOB_URL": "storage.outputs.blobEndpoint",
        "SITELENS_STORAGE_QUEUE_URL": "storage.outputs.queueEndpoint",
        "SITELENS_NODE_CLIENT_ID": "identities.outputs.nodeClientId",
    }


def test_schedules_are_set_since_the_timer_triggers_name_them() -> None:
    s = settings()
    text = (bicep.REPO / "function_app.py").read_text()
    for name in re.findall(r"%(SITELENS_\w+)%", text):
        parameter = bicep.main()["parameters"][s[name]]
        fields = parameter["default"].split()
        assert len(fields) == 6, f"{name}: NCRONTAB has six fields (seconds first)"


def _limits(parameter: dict[str, Any]) -> dict[str, Any]:
    return {d["type"]: d.get("argument") for d in parameter["decorators"]}


def test_maximum_instance_count_stays_within_flex_consumptions_range() -> None:
    # Flex Consumption accepts 40 to 1000 instances (40 is the lowest setting in most regions).
    for template in (bicep.main(), FUNCTIONS):
        limits = _limits(template["parameters"]["maximumInstanceCount"])
        assert (limits["min_value"], limits["max_value"]) == (40, 1000)
    for env in ("dev", "prod"):
        text = (bicep.INFRA / f"main.{env}.bicepparam").read_text()
        given = re.search(r"^param maximumInstanceCount = (\d+)$", text, re.M)
        assert given and 40 <= int(given.group(1)) <= 1000, env
    assert 40 <= bicep.main()["parameters"]["maximumInstanceCount"]["default"] <= 1000
