"""The Key Vault of UserSubscription mode survives a redeployment into the same group (purge protection
keeps a deleted vault's name for 90 days: the deployment recovers it), and undeliverable Event Grid
events are dead-lettered to a container with the system topic's own identity."""

from __future__ import annotations

import re

from tests.unit.infra import bicep

MAIN = bicep.main()
VAULT_MODULE = bicep.module("keyvault")
VAULT = bicep.resource(VAULT_MODULE, "vault")
EVENTS = bicep.module("eventgrid")
DEPLOY = (bicep.INFRA / "deploy.sh").read_text()


def decorators(template: dict[str, object], name: str) -> dict[str, object]:
    spec = template["parameters"][name]  # type: ignore[index]
    return {d["type"]: d.get("argument") for d in spec["decorators"]}


def test_the_vault_is_created_or_recovered_as_the_parameter_says() -> None:
    assert VAULT["properties"]["createMode"] == "createMode"
    assert VAULT["properties"]["enablePurgeProtection"] is True  # why a redeployment must recover it
    for template, name in ((MAIN, "keyVaultCreateMode"), (VAULT_MODULE, "createMode")):
        assert decorators(template, name)["allowed"] == ["default", "recover"]
    assert MAIN["parameters"]["keyVaultCreateMode"]["default"] == "default"
    call = bicep.body(MAIN["modules"]["keyVault"]["config"])["params"]
    assert call["createMode"] == "keyVaultCreateMode"
    for env in ("dev", "prod"):
        text = (bicep.INFRA / f"main.{env}.bicepparam").read_text()
        wanted = "param keyVaultCreateMode = readEnvironmentVariable('SITELENS_KEY_VAULT_CREATE_MODE', 'default')"
        assert wanted in text
    assert "SITELENS_KEY_VAULT_CREATE_MODE=recover" in DEPLOY


def test_the_vault_name_is_the_one_deploy_sh_looks_for_among_deleted_vaults() -> None:
    name = bicep.render(bicep.body(MAIN["modules"]["keyVault"]["config"])["params"]["vaultName"])
    assert name.startswith("take(kv-${environmentName}-")
    assert 'vaults/kv-{env}-"' in DEPLOY


def test_user_subscription_mode_requires_the_batch_service_principal() -> None:
    # The module is deployed only in UserSubscription mode, so its own constraint applies only there.
    assert MAIN["modules"]["keyVault"]["config"]["condition"] == "userSubscription"
    limits = decorators(VAULT_MODULE, "batchServicePrincipalId")
    assert (limits["min_length"], limits["max_length"]) == (36, 36)
    assert VAULT_MODULE["parameters"]["batchServicePrincipalId"]["default"] is None


def test_the_system_topic_has_an_identity_for_dead_lettering() -> None:
    topic = bicep.resource(EVENTS, "topic")
    assert topic["identity"] == {"type": "SystemAssigned"}
    assert bicep.render(EVENTS["outputs"]["topicPrincipalId"]["value"]) == "topic.identity.principalId"
    roles_call = bicep.body(MAIN["modules"]["roles"]["config"])["params"]
    assert bicep.render(roles_call["eventGridPrincipalId"]) == "eventGrid.outputs.topicPrincipalId"


def test_dead_letters_go_to_the_container_the_templates_create_and_grant() -> None:
    storage = bicep.module("storage")
    container = bicep.variable(storage, "deadLetterContainer")
    output = MAIN["outputs"]["EVENT_GRID_DEAD_LETTER_CONTAINER_ID"]["value"]
    path = "/blobServices/default/containers/"
    assert output == "${storage.outputs.storageAccountId}" + path + "${storage.outputs.deadLetterContainer}"
    assert bicep.resource(bicep.module("roles"), "deadLetters")["name"] == container
    # deploy.sh passes that id to the subscription's body (test_deploy_event_subscription.py checks the body).
    assert re.search(r'python3 -c "\$SUBSCRIPTION_BODY" \\\n.*\n\s+"\$EVENT_GRID_DEAD_LETTER_CONTAINER_ID"', DEPLOY)
    assert "read -r EVENT_GRID_DEAD_LETTER_CONTAINER_ID" in DEPLOY  # from the deployment outputs
