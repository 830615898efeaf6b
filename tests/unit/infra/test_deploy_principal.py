"""Who deploys, found without Microsoft Graph or subscription-level rights: deploy.sh reads the signed-in
principal's object id and kind from its own access token, hands both to the templates (and to azd), asks
for the Batch service principal instead of looking it up, registers providers only when told to, and
recovers the soft-deleted Key Vault a previous deployment of the same group left behind.

deploy.sh runs for real against the recording stand-in for `az` in test_deploy_script.py.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.infra import bicep
from tests.unit.infra.test_deploy_script import DEPLOY, DEPLOYER_ID, calls, run

BATCH_SP = "99999999-8888-7777-6666-555555555555"


def deployment_env(tmp_path: Path) -> dict[str, str]:
    return dict(json.loads((tmp_path / "deployment-env.json").read_text()))


def user_subscription_copy(tmp_path: Path) -> Path:
    """deploy.sh in a copy of infra/ whose `usub` environment uses UserSubscription mode. The run stops
    after the Bicep deployment (the copy has no packager), which is all these tests look at."""
    infra = tmp_path / "repo" / "infra"
    infra.mkdir(parents=True)
    shutil.copy(DEPLOY, infra / "deploy.sh")
    params = (bicep.INFRA / "main.dev.bicepparam").read_text()
    params = params.replace("poolAllocationMode = 'BatchService'", "poolAllocationMode = 'UserSubscription'")
    params = params.replace("environmentName = 'dev'", "environmentName = 'usub'")  # deployed as usub, not dev
    (infra / "main.usub.bicepparam").write_text(params)
    (infra.parent / "models").symlink_to(bicep.REPO / "models")  # checked before anything is deployed
    return infra / "deploy.sh"


def test_a_user_deploys_without_graph_or_subscription_rights(tmp_path: Path) -> None:
    result = run(DEPLOY, ["dev", "rg-sitelens-dev", "westeurope"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    made = calls(tmp_path)
    assert not [c for c in made if c[0] == "ad"], "Microsoft Graph (az ad ...) needs rights CI principals lack"
    assert not [c for c in made if c[:2] == ["provider", "register"]]
    assert not [c for c in made if c[:2] == ["role", "assignment"]]
    env = deployment_env(tmp_path)
    assert (env["SITELENS_DEPLOYER_PRINCIPAL_ID"], env["SITELENS_DEPLOYER_PRINCIPAL_TYPE"]) == (DEPLOYER_ID, "User")
    assert env["SITELENS_KEY_VAULT_CREATE_MODE"] == "default"
    assert "c2lnbmF0dXJl" not in result.stdout + result.stderr  # the token is never shown


@pytest.mark.parametrize(
    ("claims", "user_type", "expected"),
    [
        ({"oid": "aaaaaaaa-0000-0000-0000-000000000001", "idtyp": "app"}, "servicePrincipal", "ServicePrincipal"),
        # A managed identity's token may lack idtyp: az's own account type decides.
        ({"oid": "aaaaaaaa-0000-0000-0000-000000000002"}, "servicePrincipal", "ServicePrincipal"),
        ({"oid": "aaaaaaaa-0000-0000-0000-000000000003"}, "user", "User"),
    ],
)
def test_a_service_principal_is_named_as_one(tmp_path: Path, claims: dict[str, str], user_type: str,
                                             expected: str) -> None:  # fmt: skip
    result = run(DEPLOY, ["dev", "rg-sitelens-dev", "westeurope"], tmp_path, FAKE_CLAIMS=json.dumps(claims),
                 FAKE_USER_TYPE=user_type)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    env = deployment_env(tmp_path)
    assert (env["SITELENS_DEPLOYER_PRINCIPAL_ID"], env["SITELENS_DEPLOYER_PRINCIPAL_TYPE"]) == (claims["oid"], expected)


def test_providers_are_registered_only_when_asked(tmp_path: Path) -> None:
    result = run(DEPLOY, ["dev", "rg-sitelens-dev", "westeurope"], tmp_path, SITELENS_REGISTER_PROVIDERS="1")
    assert result.returncode == 0, result.stderr[-3000:]
    made = calls(tmp_path)
    registered = {c[c.index("--namespace") + 1] for c in made if c[:2] == ["provider", "register"]}
    # Every namespace the templates deploy a resource of.
    used = {r["type"].split("/")[0] for p in bicep.bicep_files() for r in bicep.parse(p).get("resources", {}).values()}
    assert used - {"Microsoft.Authorization"} <= registered
    # Flex Consumption apps need Microsoft.App too, which no resource names, so ARM never registers it itself.
    assert "Microsoft.App" in registered
    # The list a subscription owner registers by hand (docs/deploy.md) is the same.
    documented = re.search(r"`for ns in ([^;]+); do\s+az\s+provider", (bicep.REPO / "docs" / "deploy.md").read_text())
    assert documented and set(documented.group(1).split()) == registered
    first_register = next(i for i, c in enumerate(made) if c[:2] == ["provider", "register"])
    assert first_register < next(i for i, c in enumerate(made) if c[:3] == ["deployment", "group", "create"])


def test_user_subscription_mode_asks_for_the_batch_service_principal(tmp_path: Path) -> None:
    script = user_subscription_copy(tmp_path)
    result = run(script, ["usub", "rg-sitelens-usub", "westeurope"], tmp_path)
    assert result.returncode == 1
    assert "SITELENS_BATCH_SERVICE_PRINCIPAL_ID" in result.stderr and "ddbf3205" in result.stderr
    assert not [c for c in calls(tmp_path) if c[:3] == ["deployment", "group", "create"]]


def test_a_soft_deleted_vault_of_this_group_is_recovered(tmp_path: Path) -> None:
    script = user_subscription_copy(tmp_path)
    vaults = [
        {"name": "kv-usub-other", "properties": {"vaultId": "/subscriptions/s/resourceGroups/rg-elsewhere/providers/"
                                                            "Microsoft.KeyVault/vaults/kv-usub-other"}},
        {"name": "kv-usub-abc", "properties": {"vaultId": "/subscriptions/s/resourceGroups/RG-Sitelens-Usub/providers/"
                                                          "Microsoft.KeyVault/vaults/kv-usub-abc"}},
    ]  # fmt: skip
    run(script, ["usub", "rg-sitelens-usub", "westeurope"], tmp_path, SITELENS_BATCH_SERVICE_PRINCIPAL_ID=BATCH_SP,
        FAKE_DELETED_VAULTS=json.dumps(vaults))  # fmt: skip
    env = deployment_env(tmp_path)
    assert env["SITELENS_KEY_VAULT_CREATE_MODE"] == "recover"
    assert env["SITELENS_BATCH_SERVICE_PRINCIPAL_ID"] == BATCH_SP


@pytest.mark.parametrize("deleted", [None, []], ids=["no rights to list", "none deleted"])
def test_without_a_deleted_vault_the_vault_is_created(tmp_path: Path, deleted: list[object] | None) -> None:
    script = user_subscription_copy(tmp_path)
    extra = {} if deleted is None else {"FAKE_DELETED_VAULTS": json.dumps(deleted)}
    result = run(script, ["usub", "rg-sitelens-usub", "westeurope"], tmp_path,
                 SITELENS_BATCH_SERVICE_PRINCIPAL_ID=BATCH_SP, **extra)  # fmt: skip
    assert deployment_env(tmp_path)["SITELENS_KEY_VAULT_CREATE_MODE"] == "default"
    if deleted is None:
        assert "could not list soft-deleted key vaults" in result.stderr


def test_azd_preprovision_tells_azd_the_principal_type(tmp_path: Path) -> None:
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "azd").write_text(f'#!/bin/sh\necho "$@" >> "{tmp_path}/azd.log"\n')
    (fake_bin / "azd").chmod(0o755)
    result = run(DEPLOY, ["azd-preprovision"], tmp_path, FAKE_CLAIMS=json.dumps({"oid": DEPLOYER_ID, "idtyp": "app"}))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "azd.log").read_text().splitlines() == ["env set AZURE_PRINCIPAL_TYPE ServicePrincipal"]
    azure_yaml = (bicep.REPO / "azure.yaml").read_text()
    assert "bash infra/deploy.sh azd-preprovision" in azure_yaml
    given = json.loads((bicep.INFRA / "main.parameters.json").read_text())["parameters"]
    assert given["deployerPrincipalType"]["value"] == "${AZURE_PRINCIPAL_TYPE=User}"
    assert given["deployerPrincipalId"]["value"] == "${AZURE_PRINCIPAL_ID}"


def test_token_claims_are_decoded_whatever_their_padding() -> None:
    """The decoder deploy.sh embeds, run on payloads of each length modulo 4 (base64url drops padding)."""
    script = DEPLOY.read_text()
    decoder = script.split("TOKEN_CLAIMS='", 1)[1].split("'\n", 1)[0]
    for pad in range(4):
        claims = {"oid": DEPLOYER_ID, "idtyp": "user", "x": "y" * pad}
        payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
        out = subprocess.run([sys.executable, "-c", decoder], input=f"e30.{payload}.sig", capture_output=True,
                             text=True, check=True, env={**os.environ})  # fmt: skip
        assert out.stdout.split() == [DEPLOYER_ID, "User"]
