"""infra/deploy.sh run again on an existing deployment, against the recording stand-in for `az` in
test_deploy_script.py: the resource group is created only when it is missing (`az group create` on an existing
group replaces its tags), and a deployment refused because a pool property cannot change says how to re-create
the pool, waiting for its deletion to finish."""

from __future__ import annotations

import json
from pathlib import Path

from tests.unit.infra import bicep
from tests.unit.infra.test_deploy_script import DEPLOY, calls, option, run

ARGS = ["dev", "rg-sitelens-dev", "westeurope"]
# As ARM reports a pool update that changes vmSize (the code and the property, inside DeploymentFailed).
POOL_REFUSED = json.dumps({
    "code": "DeploymentFailed",
    "details": [{"code": "PropertyCannotBeUpdated",
                 "message": "The specified property 'vmSize' cannot be updated on pool sitelens-gpu."}],
})  # fmt: skip


def test_an_existing_group_is_not_created_again_so_its_tags_stay(tmp_path: Path) -> None:
    result = run(DEPLOY, ARGS, tmp_path, FAKE_GROUP_EXISTS="true")
    assert result.returncode == 0, result.stderr[-3000:]
    made = calls(tmp_path)
    assert ["group", "exists", "-n", "rg-sitelens-dev", "-o", "json"] in made  # json: whatever az's default output
    assert not [c for c in made if c[:2] == ["group", "create"]]
    assert any(c[:3] == ["deployment", "group", "create"] for c in made)  # the templates still deploy
    assert "resource group rg-sitelens-dev exists: left as it is" in result.stderr


def test_an_existing_group_in_another_region_is_refused_before_anything_deploys(tmp_path: Path) -> None:
    result = run(DEPLOY, ARGS, tmp_path, FAKE_GROUP_EXISTS="true", FAKE_GROUP_REGION="eastus")
    assert result.returncode == 1
    assert "rg-sitelens-dev is in eastus, not westeurope" in result.stderr
    assert not any(c[:3] == ["deployment", "group", "create"] for c in calls(tmp_path))


def test_the_region_is_compared_as_azure_names_it(tmp_path: Path) -> None:
    result = run(DEPLOY, ["dev", "rg-sitelens-dev", "West Europe"], tmp_path, FAKE_GROUP_EXISTS="true")
    assert result.returncode == 0, result.stderr[-3000:]


def test_a_missing_group_is_created_with_its_tags_before_the_deployment(tmp_path: Path) -> None:
    result = run(DEPLOY, ARGS, tmp_path, FAKE_GROUP_EXISTS="false")
    assert result.returncode == 0, result.stderr[-3000:]
    steps = [" ".join(c[:3]) for c in calls(tmp_path)]
    assert steps.index("group exists -n") < steps.index("group create -n") < steps.index("deployment group create")
    create = next(c for c in calls(tmp_path) if c[:2] == ["group", "create"])
    assert option(create, "--tags") == "application=sitelens"
    assert create[create.index("--tags") + 2] == "environment=dev"


def test_an_unexpected_answer_about_the_group_stops_before_anything_changes(tmp_path: Path) -> None:
    result = run(DEPLOY, ARGS, tmp_path, FAKE_GROUP_EXISTS="")
    assert result.returncode == 1
    assert "az group exists answered '' for rg-sitelens-dev" in result.stderr
    made = [c[:3] for c in calls(tmp_path)]
    assert ["deployment", "group", "create"] not in made and ["group", "create", "-n"] not in made


def test_a_pool_property_that_cannot_change_gets_the_recreate_hint(tmp_path: Path) -> None:
    result = run(DEPLOY, ARGS, tmp_path, FAKE_GROUP_EXISTS="true", FAKE_DEPLOYMENT_ERROR=POOL_REFUSED)
    assert result.returncode == 1
    assert "PropertyCannotBeUpdated" in result.stderr  # az's own error is still shown
    pool_id = bicep.variable(bicep.main(), "poolId")
    assert f"az batch pool delete --pool-id {pool_id} --yes" in result.stderr
    # Deleting a pool drains its nodes for minutes; a deployment before it is gone fails again.
    assert f"az batch pool show --pool-id {pool_id}   # until it answers that the pool is not found" in result.stderr
    assert "az batch account login -g rg-sitelens-dev -n ACCOUNT" in result.stderr
    assert "deployment sitelens-dev failed" in result.stderr
    made = [c[:3] for c in calls(tmp_path)]
    assert ["storage", "blob", "upload"] not in made and ["functionapp", "deployment", "source"] not in made


def test_another_deployment_failure_stops_without_the_pool_hint(tmp_path: Path) -> None:
    refused = json.dumps({"code": "DeploymentFailed", "details": [{"code": "QuotaExceeded", "message": "cores"}]})
    result = run(DEPLOY, ARGS, tmp_path, FAKE_GROUP_EXISTS="true", FAKE_DEPLOYMENT_ERROR=refused)
    assert result.returncode == 1
    assert "QuotaExceeded" in result.stderr
    assert "deployment sitelens-dev failed" in result.stderr
    assert "az batch pool delete" not in result.stderr
    assert not any(c[:3] == ["storage", "blob", "upload"] for c in calls(tmp_path))
