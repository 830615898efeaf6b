"""Several environments deployed with infra/deploy.sh, against the recording stand-in for `az` in
test_deploy_script.py: a parameter file is deployed under the environment name it declares (resource names come
from its environmentName and the group, not from its file name), or under another only where the group's deployment
of that environment was already made with it, alone; its environmentName is read as Bicep reads it; the Batch account
named in the hints is the environment's own, and each environment (and each azd environment) builds its packages in
a folder of its own."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.unit.infra import bicep
from tests.unit.infra.test_deploy_redeploy import POOL_REFUSED
from tests.unit.infra.test_deploy_script import DEPLOY, MODEL, OUTPUTS, calls, option, run

BUILD = bicep.REPO / ".local" / "deploy"


def repository_with(tmp_path: Path, params: str) -> Path:
    """deploy.sh and main.bicep in a scratch checkout, with main.staging.bicepparam written as `params`."""
    infra = tmp_path / "repo" / "infra"
    infra.mkdir(parents=True)
    for name in ("deploy.sh", "main.bicep"):
        shutil.copyfile(bicep.INFRA / name, infra / name)
    (infra / "main.staging.bicepparam").write_text(params)
    return infra / "deploy.sh"


def staging_with(
    tmp_path: Path, declared: str, *, group: str = "rg-sitelens-staging", crlf: bool = False, **env: str
) -> subprocess.CompletedProcess[str]:
    """deploy.sh staging with main.dev.bicepparam's environmentName line replaced by `declared` (and every line
    ended in CRLF where asked), stopped at the deployment if it gets there."""
    dev = (bicep.INFRA / "main.dev.bicepparam").read_text()
    assert "param environmentName = 'dev'\n" in dev
    params = dev.replace("param environmentName = 'dev'", declared)
    script = repository_with(tmp_path, params.replace("\n", "\r\n") if crlf else params)
    return run(script, ["staging", group, "westeurope"], tmp_path, SITELENS_MODEL_DIR=str(MODEL),
               **{"FAKE_DEPLOYMENT_ERROR": "stopped here by the test", **env})  # fmt: skip


def deployments_made(tmp_path: Path) -> list[list[str]]:
    return [c for c in calls(tmp_path) if c[:3] == ["deployment", "group", "create"]]


@pytest.mark.parametrize(("declared", "deployed", "refusal"), [
    # A new environment: nothing in its group was made with 'dev'.
    ("param environmentName = 'dev'", None, "sets environmentName = 'dev', not 'staging', and resource group "
     "rg-sitelens-staging has no deployment sitelens-staging made with 'dev': for a new environment, set "
     "environmentName to 'staging'"),
    ("param environmentName = 'dev'", "qa", "no deployment sitelens-staging made with 'dev' (it was made with 'qa')"),
    ("param environmentName = readEnvironmentVariable('ENV_NAME', 'dev')", None,
     "does not set environmentName to a literal"),
])  # fmt: skip
def test_a_parameter_file_declaring_another_environment_changes_nothing(
    tmp_path: Path, declared: str, deployed: str | None, refusal: str
) -> None:
    """A copy of main.dev.bicepparam saved as main.staging.bicepparam still names dev: deployed as staging into a
    group where no staging deployment was made with it, it would build dev-named resources (or, in dev's group,
    update dev's own)."""
    if deployed is None:
        result = staging_with(tmp_path, declared)
    else:
        result = staging_with(tmp_path, declared, FAKE_DEPLOYED_ENVIRONMENT=deployed)
    assert result.returncode == 1
    assert refusal in result.stderr
    made = [c[:2] for c in calls(tmp_path)]
    assert ["group", "exists"] not in made and ["group", "create"] not in made
    assert not deployments_made(tmp_path)


def test_a_copied_parameter_file_already_deployed_in_its_own_group_is_deployed_again(tmp_path: Path) -> None:
    """An environment added by copying main.dev.bicepparam unchanged, deployed into its own group before deploy.sh
    compared the names: its resources are named after 'dev' and its group, and are staging's own. Refusing it
    (or setting environmentName to 'staging', as a refusal said) would leave them, or build a second set."""
    deployments = {"sitelens-staging": "dev", "storage": ""}  # a module's deployment has no environmentName
    result = staging_with(tmp_path, "param environmentName = 'dev'", FAKE_DEPLOYED_ENVIRONMENT="dev",
                          FAKE_DEPLOYMENTS=json.dumps(deployments))  # fmt: skip
    assert "deployment sitelens-staging failed" in result.stderr  # it got as far as the deployment
    [deployment] = deployments_made(tmp_path)
    assert (option(deployment, "-g"), option(deployment, "-n")) == ("rg-sitelens-staging", "sitelens-staging")
    assert "warning: " in result.stderr and "Keep 'dev' here: changing it would build a second set" in result.stderr
    show = next(c for c in calls(tmp_path) if c[:3] == ["deployment", "group", "show"] and "parameters" in c[-3])
    assert (option(show, "-g"), option(show, "-n")) == ("rg-sitelens-staging", "sitelens-staging")


def test_a_copied_environments_hint_and_vault_are_those_named_after_its_environment_name(tmp_path: Path) -> None:
    """The copied file's resources are named and tagged after 'dev': the pool hint names its Batch account, and its
    soft-deleted vault (kv-dev-...) is recovered rather than created again under a name that is taken."""
    accounts = [{"name": "badevabc", "tags": {"environment": "dev"}}]
    vault = "/subscriptions/s/resourceGroups/rg-sitelens-staging/providers/Microsoft.KeyVault/vaults/kv-dev-abc"
    deleted = [{"name": "kv-dev-abc", "properties": {"vaultId": vault}}]
    # The file's first poolAllocationMode line is the one read.
    declared = "param environmentName = 'dev'\nparam poolAllocationMode = 'UserSubscription'"
    result = staging_with(tmp_path, declared, FAKE_DEPLOYED_ENVIRONMENT="dev",
                          FAKE_DEPLOYMENTS=json.dumps({"sitelens-staging": "dev"}), FAKE_GROUP_EXISTS="true",
                          FAKE_DEPLOYMENT_ERROR=POOL_REFUSED, FAKE_BATCH_ACCOUNTS=json.dumps(accounts),
                          SITELENS_BATCH_SERVICE_PRINCIPAL_ID="sp",
                          FAKE_DELETED_VAULTS=json.dumps(deleted))  # fmt: skip
    assert "az batch account login -g rg-sitelens-staging -n badevabc\n" in result.stderr
    assert "key vault kv-dev-abc is soft-deleted (purge protection): this deployment recovers it" in result.stderr


def test_staging_deployed_into_devs_group_with_devs_name_is_refused(tmp_path: Path) -> None:
    """Two deployments in one group made with environmentName 'dev' name the same resources: deploying staging
    there would change dev's, whatever sitelens-staging was made with."""
    deployments = {"sitelens-dev": "dev", "sitelens-staging": "dev"}
    result = staging_with(tmp_path, "param environmentName = 'dev'", group="rg-sitelens-dev",
                          FAKE_DEPLOYED_ENVIRONMENT="dev", FAKE_DEPLOYMENTS=json.dumps(deployments))  # fmt: skip
    assert result.returncode == 1
    assert "resource group rg-sitelens-dev also holds deployment sitelens-dev made with 'dev'" in result.stderr
    assert ["group", "create"] not in [c[:2] for c in calls(tmp_path)]
    assert not deployments_made(tmp_path)


@pytest.mark.parametrize(("declared", "crlf"), [
    ("param environmentName = 'staging' // renamed from 'dev'", False),
    ("param environmentName\t= 'staging'", False),
    ("param environmentName =\t'staging'", False),
    ("param environmentName='staging'//staging", False),
    ("param environmentName = 'staging'", True),
])  # fmt: skip
def test_environment_name_is_read_as_bicep_reads_it(tmp_path: Path, declared: str, crlf: bool) -> None:
    """A comment after the value, a tab around `=`, CRLF line ends: the file does set 'staging', and is deployed."""
    result = staging_with(tmp_path, declared, crlf=crlf)
    assert "does not set environmentName" not in result.stderr
    [deployment] = deployments_made(tmp_path)
    assert option(deployment, "-n") == "sitelens-staging"


def test_a_parameter_file_declaring_its_own_environment_is_deployed(tmp_path: Path) -> None:
    result = staging_with(tmp_path, "param environmentName = 'staging'")
    assert "deployment sitelens-staging failed" in result.stderr
    [deployment] = deployments_made(tmp_path)
    assert option(deployment, "--parameters") == str(tmp_path / "repo" / "infra" / "main.staging.bicepparam")
    assert "warning: " not in result.stderr


@pytest.mark.parametrize(("accounts", "named"), [
    ([{"name": "baprodxyz", "tags": {"application": "sitelens", "environment": "prod"}},
      {"name": "badevabc", "tags": {"application": "sitelens", "environment": "dev"}}], "badevabc"),
    ([{"name": "baprodxyz", "tags": {"environment": "prod"}}, {"name": "untagged", "tags": None}], "ACCOUNT"),
])  # fmt: skip
def test_the_pool_hint_names_this_environments_batch_account(
    tmp_path: Path, accounts: list[dict[str, object]], named: str
) -> None:
    # Another environment's account listed first in the same group: the hint must not send anyone to delete its pool.
    result = run(DEPLOY, ["dev", "rg-sitelens-dev", "westeurope"], tmp_path, FAKE_GROUP_EXISTS="true",
                 FAKE_DEPLOYMENT_ERROR=POOL_REFUSED, FAKE_BATCH_ACCOUNTS=json.dumps(accounts))  # fmt: skip
    assert result.returncode == 1
    assert f"az batch account login -g rg-sitelens-dev -n {named}\n" in result.stderr
    assert "baprodxyz" not in result.stderr


def test_each_environment_builds_its_packages_in_its_own_folder(tmp_path: Path) -> None:
    for environment in ("dev", "prod"):
        state = tmp_path / environment
        state.mkdir()
        result = run(DEPLOY, [environment, f"rg-sitelens-{environment}", "westeurope"], state)
        assert result.returncode == 0, result.stderr[-3000:]
        made = calls(state)
        code = next(c for c in made if c[:4] == ["functionapp", "deployment", "source", "config-zip"])
        assert Path(option(code, "--src")) == BUILD / "sh" / environment / "app.zip"
        node = next(c for c in made if c[:3] == ["storage", "blob", "upload"] and "batch_tasks.zip" in c)
        assert Path(option(node, "--file")) == BUILD / "sh" / environment / "batch_tasks.zip"


def test_an_azd_environment_builds_in_its_own_folder_and_needs_its_name(tmp_path: Path) -> None:
    outputs = {name: OUTPUTS[name] for name in ("STORAGE_ACCOUNT", "NODE_PACKAGE_CONTAINER", "MODELS_CONTAINER")}
    named = run(DEPLOY, ["azd-postprovision"], tmp_path, AZURE_ENV_NAME="dev", FAKE_ROLES_READY="1", **outputs)
    assert named.returncode == 0, named.stderr[-3000:]
    node = next(c for c in calls(tmp_path) if c[:3] == ["storage", "blob", "upload"] and "batch_tasks.zip" in c)
    assert Path(option(node, "--file")) == BUILD / "azd" / "dev" / "batch_tasks.zip"
    (tmp_path / "calls.jsonl").unlink()
    unnamed = run(DEPLOY, ["azd-postprovision"], tmp_path, **outputs)
    assert unnamed.returncode == 1
    assert "environment name '' is not letters, digits and hyphens (azd sets AZURE_ENV_NAME)" in unnamed.stderr
    assert not (tmp_path / "calls.jsonl").exists()  # nothing was asked of Azure


def test_a_setting_inside_a_block_comment_is_not_read(tmp_path: Path) -> None:
    result = staging_with(
        tmp_path, "/* the old one:\nparam environmentName = 'prod' */\nparam environmentName = 'staging'"
    )
    assert "does not set environmentName" not in result.stderr and "'prod'" not in result.stderr
    [deployment] = deployments_made(tmp_path)
    assert option(deployment, "-n") == "sitelens-staging"


def test_user_subscription_mode_is_read_as_bicep_reads_it(tmp_path: Path) -> None:
    # With a tab before `=`, the mode was missed: no early refusal, no vault recovery, the wrong quota check.
    dev = (bicep.INFRA / "main.dev.bicepparam").read_text()
    params = dev.replace("param environmentName = 'dev'", "param environmentName = 'staging'").replace(
        "param poolAllocationMode = 'BatchService'", "param poolAllocationMode\t= 'UserSubscription'"
    )
    script = repository_with(tmp_path, params)
    result = run(script, ["staging", "rg-sitelens-staging", "westeurope"], tmp_path, SITELENS_MODEL_DIR=str(MODEL),
                 FAKE_DEPLOYMENT_ERROR="stopped here by the test")  # fmt: skip
    assert result.returncode != 0 and "UserSubscription mode needs SITELENS_BATCH_SERVICE_PRINCIPAL_ID" in result.stderr
    assert not deployments_made(tmp_path)
