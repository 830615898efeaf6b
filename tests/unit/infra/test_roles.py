"""Every identity has exactly the roles its code needs, at the narrowest scope, and no more.

The table below is the reviewed list: a role assignment added to (or missing from) the templates fails
here until the table says why. Each assignment is named guid(scope, principal, role) and has a comment
naming its role. Roles are built-in ones, by id, or custom roles the templates define, whose actions and
assignable scope are reviewed here too.
"""

from __future__ import annotations

import ast
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

POOL_READ = "Microsoft.Batch/batchAccounts/pools/read"
POOL_WRITE = "Microsoft.Batch/batchAccounts/pools/write"

# Custom roles, by the fixed part of their role name (the rest names the Batch account, since a role name
# is unique in the tenant): (actions, data actions). Each is assignable in the deployment's resource group
# only and excludes nothing (no notActions), so what it grants is exactly this list.
CUSTOM_ROLES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # The pool waker: read the pool, Evaluate and Enable autoscale on it. Batch authorises pool calls on its
    # endpoint with the pool's management actions; pools/* (Azure Batch Data Contributor) would add delete,
    # stopResize and disableAutoscale.
    "sitelens pool autoscale kick": ((POOL_READ, POOL_WRITE), ()),
}

# What authorises each BatchClient call the pool waker makes. Batch's RBAC operations for pools are read,
# write and delete (plus the management API's own stopResize and disableAutoscale); enabling autoscale
# updates the pool. Evaluate has no operation of its own and reads no more than the pool: it is held to
# write here, the stricter of the two the role grants, so the role covers it either way.
POOL_WAKER_CALLS = {
    "get_pool": POOL_READ,
    "evaluate_pool_auto_scale": POOL_WRITE,
    "enable_pool_auto_scale": POOL_WRITE,
}
POOL_WAKER = bicep.REPO / "shared" / "adapters" / "azure_pool_waker.py"

# (principal, role, scope). Scopes: "storage account", "container X", "queue X", "Batch account",
# "Application Insights", "Key Vault".
EXPECTED = {
    # Functions app: host storage, blob trigger, one-deploy package and its containers (account scope:
    # the host creates its containers at run time); queues the host creates at run time; tables created
    # if absent under a configurable prefix; Batch jobs and tasks; the pool's autoscale kick; telemetry
    # with Entra auth.
    ("function", "Storage Blob Data Owner", "storage account"),
    ("function", "Storage Queue Data Contributor", "storage account"),
    ("function", "Storage Table Data Contributor", "storage account"),
    ("function", "Azure Batch Job Submitter", "Batch account"),
    ("function", "sitelens pool autoscale kick", "Batch account"),
    ("function", "Monitoring Metrics Publisher", "Application Insights"),
    # Batch nodes: task inputs, models and the node package read; results written; completions sent;
    # telemetry with Entra auth.
    ("node", "Storage Blob Data Reader", "container derived"),
    ("node", "Storage Blob Data Reader", "container models"),
    ("node", "Storage Blob Data Reader", "container node-package"),
    ("node", "Storage Blob Data Contributor", "container results"),
    ("node", "Storage Queue Data Message Sender", "queue completions"),
    ("node", "Monitoring Metrics Publisher", "Application Insights"),
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


# The containers no assignment at a wider scope may change: node-package (the start task and batch_tasks,
# which every new node runs as root) and models (what the nodes load). Only the deployer's assignments on
# the containers themselves write there. An account-scoped role that writes blobs carries a condition
# (ABAC) that allows every changing blob action only outside them; reads stay unconditional (the app
# reads a model's manifest for health, and routing.json).
NODE_INPUTS = ("node-package", "models")
BLOB = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/"
# Every blob data action of Storage Blob Data Owner (blobs/*) that changes something: content, versions,
# tags, legal holds, and, with a hierarchical namespace, names, owners, ACLs and superuser access.
BLOB_CHANGES = tuple(BLOB + action for action in (
    "write", "add/action", "delete", "deleteBlobVersion/action", "permanentDelete/action", "tags/write",
    "immutableStorage/runAsSuperUser/action", "move/action", "manageOwnership/action",
    "modifyPermissions/action", "runAsSuperUser/action",
))  # fmt: skip
BLOB_READS = tuple(BLOB + action for action in ("read", "tags/read", "filter/action"))
CONTAINER_NAME = "@Resource[Microsoft.Storage/storageAccounts/blobServices/containers:name]"
# Roles whose blob writes an account-scoped assignment must keep out of NODE_INPUTS.
BLOB_WRITERS = ("Storage Blob Data Owner", "Storage Blob Data Contributor")


def keeps_out_of_node_inputs() -> str:
    """The reviewed condition, whitespace collapsed: no changing action, or a container not in NODE_INPUTS."""
    no_change = " AND ".join(f"!(ActionMatches{{'{action}'}})" for action in BLOB_CHANGES)
    elsewhere = " AND ".join(f"{CONTAINER_NAME} StringNotEquals '{name}'" for name in NODE_INPUTS)
    return f"( ( {no_change} ) OR ( {elsewhere} ) )"


def custom_role_name(conf: dict[str, Any]) -> str:
    """A role definition's role name less its ` (${batchAccountName})` suffix: the key of CUSTOM_ROLES."""
    return str(conf["properties"]["roleName"]).removesuffix(" (${batchAccountName})")


def role_id(template: dict[str, Any], expression: Any) -> str:
    """The GUID a role expression names: `roles.x` (an object variable) or a plain variable; for a custom
    role defined in the same template (`symbol.name`), its role name as CUSTOM_ROLES knows it."""
    text = bicep.render(expression)
    symbol, _, attribute = text.partition(".")
    definitions = bicep.resources_of_type(template, ROLE_DEFINITION)
    if symbol in definitions and attribute == "name":
        return custom_role_name(bicep.resource(template, symbol))
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


def custom_roles() -> dict[str, dict[str, Any]]:
    """Every role definition in infra/, by role name: its symbol, file and body."""
    found: dict[str, dict[str, Any]] = {}
    for path in bicep.bicep_files():
        template = bicep.parse(path)
        for symbol in bicep.resources_of_type(template, ROLE_DEFINITION):
            conf = bicep.resource(template, symbol)
            name = custom_role_name(conf)
            assert name not in found, f"two role definitions named {name}"
            found[name] = {"symbol": symbol, "file": path.name, "conf": conf}
    return found


def condition_text(template: dict[str, Any], condition: Any) -> str | None:
    """An assignment's condition with its whitespace collapsed, through a variable; None if it has none."""
    if condition is None:
        return None
    if condition in template.get("variables", {}):
        condition = bicep.variable(template, condition)
    return " ".join(str(condition).split())


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
                "condition": condition_text(template, props.get("condition")),
                "condition_version": props.get("conditionVersion"),
                "comment": comment.group(1) if comment else "",
            })  # fmt: skip
    return found


ROLE_DEFINITION = "Microsoft.Authorization/roleDefinitions"
ASSIGNMENTS = assignments()
CUSTOM = custom_roles()
NAMES = {v: k for k, v in ROLE_IDS.items()} | {name: name for name in CUSTOM_ROLES}
# Owner and Contributor (subscription-wide powers), by name and by id.
BROAD_ROLES = ("Owner'", "Contributor'", "8e3af657-a8ff-443c-a75c-2fe8c4bcb635", "b24988ac-6180-42a0-ab88-20f7382dd24c")


def test_every_identity_has_exactly_the_listed_roles() -> None:
    actual = [(a["principal"], NAMES.get(a["role"], a["role"]), a["scope"]) for a in ASSIGNMENTS]
    assert len(actual) == len(set(actual)), "a role is assigned twice"
    assert set(actual) == EXPECTED


def test_roles_are_built_in_definitions_by_id_or_reviewed_custom_roles() -> None:
    for a in ASSIGNMENTS:
        assert a["role"] in NAMES, f"{a['symbol']}: unknown role id {a['role']}"
        assert a["definition"].startswith("subscription_resource_id(Microsoft.Authorization/roleDefinitions, ")
        if a["role"] in CUSTOM_ROLES:  # defined next to its assignment, referred to by its symbol
            defined = CUSTOM[a["role"]]
            assert defined["file"] == a["file"], f"{a['symbol']}: {a['role']} is defined in {defined['file']}"
            assert a["definition"].endswith(f", {defined['symbol']}.name)")


def test_custom_roles_grant_exactly_the_reviewed_actions() -> None:
    assert set(CUSTOM) == set(CUSTOM_ROLES), "a custom role added or missing: review it in CUSTOM_ROLES"
    for name, (actions, data_actions) in CUSTOM_ROLES.items():
        props = CUSTOM[name]["conf"]["properties"]
        assert props["type"] == "CustomRole"
        assert props["permissions"] == [{
            "actions": list(actions), "notActions": [], "dataActions": list(data_actions), "notDataActions": [],
        }], f"{name}: its permissions are not the reviewed ones"  # fmt: skip
        assert not any("*" in action for action in (*actions, *data_actions)), f"{name}: a wildcard"


def test_custom_roles_are_assignable_in_the_resource_group_only() -> None:
    """Azure takes a management group, subscriptions or resource groups as assignable scopes; the group is
    the narrowest. The assignment itself (EXPECTED) is narrower still: the Batch account."""
    for name, defined in CUSTOM.items():
        scopes = defined["conf"]["properties"]["assignableScopes"]
        assert len(scopes) == 1, f"{name}: {scopes}"
        function = scopes[0]["function"]
        assert function["type"] == "resource_group" and function["property_name"] == "id", f"{name}: {scopes}"
        assert not any(function["parameters"].values()), f"{name}: another resource group"


def test_custom_roles_are_named_once_per_batch_account() -> None:
    """A role definition's name is a GUID and its role name is unique in the tenant: both derive from the
    Batch account, so dev and prod (or two subscriptions) never overwrite each other's definition."""
    for name, defined in CUSTOM.items():
        conf = defined["conf"]
        assert bicep.render(conf["name"]) == f"guid(batch.id, {name})"
        assert conf["properties"]["roleName"] == f"{name} (${{batchAccountName}})"


def test_the_pool_waker_calls_only_what_its_role_grants() -> None:
    """Every BatchClient method the waker uses is in POOL_WAKER_CALLS (a new call fails here until its
    action is reviewed), and the kick's role grants those actions and no other."""
    tree = ast.parse(POOL_WAKER.read_text())
    used = {
        node.attr for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute) and node.value.attr == "client"
    }  # fmt: skip
    assert used == set(POOL_WAKER_CALLS), f"the waker calls {sorted(used)}"
    actions, data_actions = CUSTOM_ROLES["sitelens pool autoscale kick"]
    assert set(POOL_WAKER_CALLS.values()) == set(actions)
    assert data_actions == ()


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


def test_account_wide_blob_writers_cannot_change_the_node_package_or_models() -> None:
    """The app's Owner on the account (host storage needs it) may not rewrite what nodes run as root or
    load: its condition allows every changing blob action only outside node-package and models."""
    writers = [a for a in ASSIGNMENTS if NAMES.get(a["role"]) in BLOB_WRITERS and a["scope"] == "storage account"]
    assert [(a["principal"], NAMES[a["role"]]) for a in writers] == [("function", "Storage Blob Data Owner")]
    for a in writers:
        assert a["condition"] == keeps_out_of_node_inputs(), f"{a['symbol']}: {a['condition']}"
        assert a["condition_version"] == "2.0", a["symbol"]
    assert not any(read in keeps_out_of_node_inputs() for read in BLOB_READS), "reads must stay unconditional"


def test_the_condition_names_the_containers_nodes_read() -> None:
    """NODE_INPUTS are the containers the nodes' reader and the deployer's writer assignments are scoped to,
    so a renamed container cannot leave the condition guarding a name nothing uses."""
    node_reads = {a["scope"].removeprefix("container ") for a in ASSIGNMENTS if a["principal"] == "node"}
    deployer_writes = {a["scope"].removeprefix("container ") for a in ASSIGNMENTS if a["principal"] == "deployer"}
    assert set(NODE_INPUTS) <= node_reads
    assert set(NODE_INPUTS) == deployer_writes


def test_only_reviewed_assignments_carry_a_condition() -> None:
    conditioned = {a["symbol"] for a in ASSIGNMENTS if a["condition"] is not None or a["condition_version"]}
    assert conditioned == {"functionBlobOwner"}
