"""Several environments deployed with infra/deploy.sh, against the recording stand-in for `az` in
test_deploy_script.py: a parameter file is deployed only under the environment name it declares (resource names
come from its environmentName, not from its file name), the Batch account named in the hints is the
environment's own, and each environment (and each azd environment) builds its packages in a folder of its own."""

from __future__ import annotations

import json
import shutil
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


@pytest.mark.parametrize(("declared", "refusal"), [
    ("param environmentName = 'dev'", "sets environmentName = 'dev', not 'staging'"),
    ("param environmentName = readEnvironmentVariable('ENV_NAME', 'dev')", "does not set environmentName to a literal"),
])  # fmt: skip
def test_a_parameter_file_declaring_another_environment_changes_nothing(
    tmp_path: Path, declared: str, refusal: str
) -> None:
    """A copy of main.dev.bicepparam saved as main.staging.bicepparam still names dev: deployed as staging, it
    would have updated dev's resources (in staging's resource group, or over dev's in a shared one)."""
    dev = (bicep.INFRA / "main.dev.bicepparam").read_text()
    assert "param environmentName = 'dev'\n" in dev
    script = repository_with(tmp_path, dev.replace("param environmentName = 'dev'", declared))
    result = run(script, ["staging", "rg-sitelens-staging", "westeurope"], tmp_path, SITELENS_MODEL_DIR=str(MODEL))
    assert result.returncode == 1
    assert refusal in result.stderr
    made = [c[:2] for c in calls(tmp_path)]
    assert ["group", "exists"] not in made and ["group", "create"] not in made
    assert not [c for c in calls(tmp_path) if c[:3] == ["deployment", "group", "create"]]


def test_a_parameter_file_declaring_its_own_environment_is_deployed(tmp_path: Path) -> None:
    dev = (bicep.INFRA / "main.dev.bicepparam").read_text()
    script = repository_with(
        tmp_path, dev.replace("param environmentName = 'dev'", "param environmentName = 'staging'")
    )
    result = run(script, ["staging", "rg-sitelens-staging", "westeurope"], tmp_path, SITELENS_MODEL_DIR=str(MODEL),
                 FAKE_DEPLOYMENT_ERROR="stopped here by the test")  # fmt: skip
    assert "deployment sitelens-staging failed" in result.stderr
    deployment = next(c for c in calls(tmp_path) if c[:3] == ["deployment", "group", "create"])
    assert option(deployment, "--parameters") == str(script.parent / "main.staging.bicepparam")


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
