"""Every identity has exactly the roles its code needs, at the narrowest scope, and no more.

The table below is the reviewed list: a role assignment added to (or missing from) the templates fails
here until the table says why. Each assignment is named guid(scope, principal, role) and has a comment
naming its role.
"""

from __future__ import annotations

import re
from typing import Any

from tests.unit.infra import bicep

# Built-in role definition ids, the same in every tenant.
ROLE_IDS = {
    "Storage Blob Data Owner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
    "Storage Blob Data Contributor": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
    "Storage Blob Data Reader": "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
    "Storage Queue Data Contributor": "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
    "Storage Queue Data Message Sender": "c6a89b2d-59bc-44d0-9896-0f6e12d7b80a",
    "Storage Table Data Contributor": "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
    "Monitoring Metrics Publisher": "3913510d-42f4-4e42-8a64-420c390055eb",
    "Azure Batch Job Submitter": "48e5e92e-a480-4e71-aa9c-2778f4c13781",
    "Key Vault Secrets Officer": "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
}

# (principal, role, scope). Scopes: "storage account", "container X", "queue X", "Batch account",
# "Application Insights", "Key Vault".
EXPECTED = {
    # Functions app: host storage, blob trigger, one-deploy package and its containers (account scope:
    # the host creates its containers at run time); queues the host creates at run time; tables created
    # if absent under a configurable prefix; Batch jobs and tasks; telemetry with Entra auth.
    ("function", "Storage Blob Data Owner", "storage account"),
    ("function", "Storage Queue Data Contributor", "storage account"),
    ("function", "Storage Table Data Contributor", "storage account"),
    ("function", "Azure Batch Job Submitter", "Batch account"),
    ("function", "Monitoring Metrics Publisher", "Application Insights"),
    # Batch nodes: task inputs, models and the node package read; results written; completions sent.
    ("node", "Storage Blob Data Reader", "container derived"),
    ("node", "Storage Blob Data Reader", "container models"),
    ("node", "Storage Blob Data Reader", "container node-package"),
    ("node", "Storage Blob Data Contributor", "container results"),
    ("node", "Storage Queue Data Message Sender", "queue completions"),
    # Whoever runs deploy.sh: uploads the node package and publishes the model.
    ("deployer", "Storage Blob Data Contributor", "container node-package"),
    ("deployer", "Storage Blob Data Contributor", "container models"),
    # The Event Grid system topic: dead-letters undeliverable BlobCreated events with its own identity.
    ("event grid", "Storage Blob Data Contributor", "container eventgrid-deadletter"),
    # UserSubscription mode only: the Batch service keeps the pool VMs' secrets in the vault.
    ("batch service", "Key Vault Secrets Officer", "Key Vault"),
}
PRINCIPALS = {
    "functionPrincipalId": "function",
    "nodePrincipalId": "node",
    "deployerPrincipalId": "deployer",
    "eventGridPrincipalId": "event grid",
    "batchServicePrincipalId": "batch service",
}
SCOPES = {
    "Microsoft.Storage/storageAccounts": "storage account",
    "Microsoft.Storage/storageAccounts/blobServices/containers": "container",
    "Microsoft.Storage/storageAccounts/queueServices/queues": "queue",
    "Microsoft.Batch/batchAccounts": "Batch account",
    "Microsoft.Insights/components": "Application Insights",
    "Microsoft.KeyVault/vaults": "Key Vault",
}


def role_id(template: dict[str, Any], expression: Any) -> str:
    """The GUID a role expression names: `roles.x` (an object variable) or a plain variable."""
    text = bicep.render(expression)
    if "." in text:
        table, key = text.split(".")
        return str(bicep.variable(template, table)[key])
    return str(bicep.variable(template, text))


def scope_of(template: dict[str, Any], symbol: str) -> str:
    target = template["resources"][symbol]
    kind = SCOPES[target["type"]]
    if kind in ("container", "queue"):
        return f"{kind} {bicep.resource(template, symbol)['name']}"
    return kind


def assignments() -> list[dict[str, Any]]:
    found = []
    for path in [*sorted(bicep.MODULES.glob("*.bicep")), bicep.INFRA / "main.bicep"]:
        template = bicep.parse(path)
        text = path.read_text()
        for symbol in bicep.resources_of_type(template, "Microsoft.Authorization/roleAssignments"):
            conf = bicep.resource(template, symbol)
            props = conf["properties"]
            role = role_id(template, props["roleDefinitionId"]["function"]["parameters"]["resource_name_1"])
            comment = re.search(rf"((?://[^\n]*\n)+)resource {symbol} ", text)
            found.append({
                "file": path.name,
                "symbol": symbol,
                "principal": PRINCIPALS[props["principalId"]],
                "principal_param": props["principalId"],
                "role": role,
                "scope_symbol": conf["scope"],
                "scope": scope_of(template, conf["scope"]),
                "name": bicep.render(conf["name"]),
                "definition": bicep.render(props["roleDefinitionId"]),
                "principal_type": props["principalType"],
                "comment": comment.group(1) if comment else "",
            })  # fmt: skip
    return found


ASSIGNMENTS = assignments()
NAMES = {v: k for k, v in ROLE_IDS.items()}
# Owner and Contributor (subscription-wide powers), by name and by id.
BROAD_ROLES = ("Owner'", "Contributor'", "8e3af657-a8ff-443c-a75c-2fe8c4bcb635", "b24988ac-6180-42a0-ab88-20f7382dd24c")


def test_every_identity_has_exactly_the_listed_roles() -> None:
    actual = [(a["principal"], NAMES.get(a["role"], a["role"]), a["scope"]) for a in ASSIGNMENTS]
    assert len(actual) == len(set(actual)), "a role is assigned twice"
    assert set(actual) == EXPECTED


def test_roles_are_built_in_definitions_by_id() -> None:
    for a in ASSIGNMENTS:
        assert a["role"] in NAMES, f"{a['symbol']}: unknown role id {a['role']}"
        assert a["definition"].startswith("subscription_resource_id(Microsoft.Authorization/roleDefinitions, ")


def test_names_are_guid_of_scope_principal_and_role() -> None:
    for a in ASSIGNMENTS:
        parts = re.fullmatch(r"guid\((\w+)\.id, (\w+), ([\w.]+)\)", a["name"])
        assert parts, f"{a['symbol']}: name {a['name']}"
        assert parts.group(1) == a["scope_symbol"], f"{a['symbol']}: the guid's scope is not the assignment's"
        assert parts.group(2) == a["principal_param"]
        assert a["definition"].endswith(f", {parts.group(3)})"), f"{a['symbol']}: the guid's role differs"


def test_each_assignment_has_a_comment_naming_its_role() -> None:
    for a in ASSIGNMENTS:
        assert NAMES[a["role"]] in " ".join(a["comment"].split()), f"{a['symbol']}: no comment naming the role"


def test_no_identity_gets_a_broad_role() -> None:
    for path in bicep.bicep_files():
        text = path.read_text()
        for broad in BROAD_ROLES:
            assert broad not in text, f"{path.name} mentions {broad}"


def test_principal_types_match_the_principals() -> None:
    """ARM refuses an assignment whose principalType is not the principal's (UnmatchedPrincipalType): the
    deployer's is a parameter (a user, or a pipeline's service principal), every identity's is fixed."""
    for a in ASSIGNMENTS:
        expected = "deployerPrincipalType" if a["principal"] == "deployer" else "ServicePrincipal"
        assert a["principal_type"] == expected, a["symbol"]
    call = bicep.body(bicep.main()["modules"]["roles"]["config"])["params"]
    assert call["deployerPrincipalType"] == "deployerPrincipalType"
    allowed = {d["type"]: d.get("argument") for d in bicep.main()["parameters"]["deployerPrincipalType"]["decorators"]}
    assert allowed["allowed"] == ["User", "ServicePrincipal", "Group"]
