"""Every resource body in infra/ against Microsoft's published Bicep type definitions (a vendored subset of
Azure/bicep-types-az, infra/checks/bicep_types/), and proof that the check catches each kind of mistake:
a real template gets one mistake in an in-memory copy, and the checker must report exactly that one.
"""

from __future__ import annotations

import re

import pytest

from tests.unit.infra import bicep
from tests.unit.infra import bicep_conformance as conformance
from tests.unit.infra.bicep_conformance import Finding
from tests.unit.infra.bicep_resources import declarations_in_text, infra_declarations
from tests.unit.infra.bicep_type_definitions import REFRESH_SCRIPT, TYPES_DIR, vendored

STORAGE, BATCH, MONITORING, ROLES, FUNCTIONS, BUDGET = "storage", "batch", "monitoring", "roles", "functions", "budget"


def _check_module(name: str, anchor: str, replacement: str) -> list[Finding]:
    """The module's text with `anchor` (which must occur once) replaced, checked."""
    text = (bicep.MODULES / f"{name}.bicep").read_text()
    assert text.count(anchor) == 1, f"{name}.bicep no longer has exactly one {anchor!r}: pick another anchor"
    return conformance.check_text(text.replace(anchor, replacement), source=f"infra/modules/{name}.bicep")


def _after(anchor: str, line: str) -> tuple[str, str]:
    """Insert `line` (indented as it should be) right after `anchor`, which ends a line."""
    return anchor, f"{anchor}\n{line}"


def _summary(findings: list[Finding]) -> list[tuple[str, str, str]]:
    return [(f.symbol, f.path, f.kind) for f in findings]


def test_every_resource_body_matches_the_published_types() -> None:
    findings = [
        finding for path in bicep.bicep_files()
        for finding in conformance.check_text(path.read_text(), source=str(path.relative_to(bicep.REPO)))
    ]  # fmt: skip
    assert findings == [], "\n".join(map(str, findings))


def test_the_vendored_subset_is_exactly_the_types_infra_uses() -> None:
    used = {d.type_version.lower() for d in infra_declarations()}
    vendored_names = {name.lower() for name in vendored().resource_names}
    assert used == vendored_names, (
        f"missing {sorted(used - vendored_names)}, unused {sorted(vendored_names - used)}: run {REFRESH_SCRIPT}"
    )


def test_the_vendored_subset_names_its_source_commit_and_resolves() -> None:
    definitions = vendored()
    assert definitions.index["source"]["repository"] == "Azure/bicep-types-az"
    assert re.fullmatch(r"[0-9a-f]{40}", definitions.source_commit)
    for name in definitions.resource_names:
        definition = definitions.resource(name)
        assert definition is not None
        assert definition.body["$type"] in ("ObjectType", "DiscriminatedObjectType")
    assert sum(f.stat().st_size for f in TYPES_DIR.rglob("*.json")) < 400_000  # a subset, not the whole set
    deploy_doc = (bicep.REPO / "docs" / "deploy.md").read_text()
    assert f"commit `{definitions.source_commit[:8]}`" in deploy_doc, "docs/deploy.md names another commit"


# (module, anchor, replacement, the one finding expected: resource symbol, property path, kind)
MISTAKES: dict[str, tuple[str, str, str, tuple[str, str, str]]] = {
    "unknown property": (
        MONITORING, *_after("    retentionInDays: retentionDays", "    retentionDays: 30"),
        ("workspace", "properties.retentionDays", conformance.UNKNOWN_PROPERTY),
    ),
    "wrong casing": (
        STORAGE, "allowSharedKeyAccess: false", "allowSharedkeyAccess: false",
        ("storage", "properties.allowSharedkeyAccess", conformance.CASING),
    ),
    "wrong casing, PascalCase type": (
        MONITORING, "IngestionMode: 'LogAnalytics'", "ingestionMode: 'LogAnalytics'",
        ("insights", "properties.ingestionMode", conformance.CASING),
    ),
    "missing required property": (
        STORAGE, "  kind: 'StorageV2'\n", "",
        ("storage", "kind", conformance.MISSING_REQUIRED),
    ),
    "missing required nested property": (
        BATCH, "        nodeAgentSkuId: nodeAgentSkuId\n", "",
        ("pool", "properties.deploymentConfiguration.virtualMachineConfiguration.nodeAgentSkuId",
         conformance.MISSING_REQUIRED),
    ),
    "read-only property set": (
        STORAGE, *_after("    accessTier: 'Hot'", "    primaryLocation: 'westeurope'"),
        ("storage", "properties.primaryLocation", conformance.READ_ONLY_SET),
    ),
    "wrong enum literal": (
        BATCH, "nodeFillType: 'Pack'", "nodeFillType: 'Packed'",
        ("pool", "properties.taskSchedulingPolicy.nodeFillType", conformance.ENUM),
    ),
    "enum literal in the wrong casing (open enum)": (
        STORAGE, "minimumTlsVersion: 'TLS1_2'", "minimumTlsVersion: 'tls1_2'",
        ("storage", "properties.minimumTlsVersion", conformance.ENUM),
    ),
    "parameter allows a value the enum lacks": (
        BATCH, "@allowed(['BatchService', 'UserSubscription'])", "@allowed(['BatchService', 'Serverless'])",
        ("batch", "properties.poolAllocationMode", conformance.ENUM),
    ),
    "wrong API version": (
        STORAGE, "/storageAccounts@2023-05-01' = {", "/storageAccounts@2023-13-01' = {",
        ("storage", "", conformance.UNKNOWN_TYPE_VERSION),
    ),
    "wrong primitive type (string for bool)": (
        STORAGE, "supportsHttpsTrafficOnly: true", "supportsHttpsTrafficOnly: 'true'",
        ("storage", "properties.supportsHttpsTrafficOnly", conformance.WRONG_KIND),
    ),
    "wrong primitive type (string for int)": (
        BATCH, "maxTaskRetryCount: 2", "maxTaskRetryCount: '2'",
        ("pool", "properties.startTask.maxTaskRetryCount", conformance.WRONG_KIND),
    ),
    "wrong casing in a loop's items": (
        BATCH, "filePath: file", "filepath: file",
        ("pool", "properties.startTask.resourceFiles[*].filepath", conformance.CASING),
    ),
    "name known only after deployment": (
        BATCH, "  name: poolId\n", "  name: batch.properties.accountEndpoint\n",
        ("pool", "name", conformance.NOT_DEPLOY_TIME_CONSTANT),
    ),
    "discriminator value outside the union": (
        FUNCTIONS, "name: 'ftp'", "name: 'sftp'",
        ("ftpCredentials", "name", conformance.ENUM),
    ),
    "unknown property, discriminated union's branch unknown": (
        FUNCTIONS, "  name: 'scm'\n", "  name: appName\n  colour: 'red'\n",
        ("scmCredentials", "colour", conformance.UNKNOWN_PROPERTY),
    ),
    "parent of the wrong type": (
        STORAGE, "  parent: blobService\n", "  parent: queueService\n",
        ("containers", "parent", conformance.WRONG_PARENT),
    ),
    "wrong enum literal on an extension resource (the storage account's lock)": (
        STORAGE, "level: 'CanNotDelete'", "level: 'CannotDelete'",
        ("deleteProtection", "properties.level", conformance.ENUM),
    ),
    "wrong enum literal in a budget's notification (a map of objects)": (
        BUDGET, "thresholdType: 'Forecasted'", "thresholdType: 'Forecast'",
        ("budget", "properties.notifications.forecast100.thresholdType", conformance.ENUM),
    ),
    "existing resource of an unknown API version": (
        ROLES, "/storageAccounts@2023-05-01' existing", "/storageAccounts@2099-01-01' existing",
        ("storage", "", conformance.UNKNOWN_TYPE_VERSION),
    ),
}  # fmt: skip


@pytest.mark.parametrize(("module", "anchor", "replacement", "expected"), MISTAKES.values(), ids=MISTAKES.keys())
def test_one_injected_mistake_is_reported_exactly(
    module: str, anchor: str, replacement: str, expected: tuple[str, str, str]
) -> None:
    findings = _check_module(module, anchor, replacement)
    assert _summary(findings) == [expected], "\n".join(map(str, findings))


def test_a_mistake_message_names_the_fix() -> None:
    casing = _check_module(STORAGE, "allowSharedKeyAccess: false", "allowSharedkeyAccess: false")
    assert "'allowSharedKeyAccess'" in casing[0].message
    version = _check_module(STORAGE, "storageAccounts@2023-05-01' = {", "storageAccounts@2023-13-01' = {")
    assert REFRESH_SCRIPT in version[0].message
    allowed = _check_module(BATCH, "'UserSubscription'])", "'Serverless'])")
    assert "'Serverless'" in allowed[0].message and "parameter poolAllocationMode" in allowed[0].message


def test_an_existing_resource_is_checked_for_type_and_version_only() -> None:
    anchor = "resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {"
    assert _check_module(ROLES, *_after(anchor, "  colour: 'red'")) == []


NESTED = """
param accountName string
resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: accountName
  location: 'westeurope'
  kind: 'StorageV2'
  sku: { name: 'Standard_LRS' }
  resource blobs 'blobServices' = {
    name: 'default'
    properties: { isVersioningEnabled: 'yes' }
    resource photos 'containers' = {
      name: 'photos'
      properties: { publicAccess: 'None' }
    }
  }
  resource queues 'queueServices@2023-01-01' = {
    name: 'default'
  }
}
"""


def test_nested_resources_are_each_declared_with_their_full_type_and_version() -> None:
    found = [(d.symbol, d.type_version) for d in declarations_in_text(NESTED, source="nested.bicep")]
    assert found == [
        ("account", "Microsoft.Storage/storageAccounts@2023-05-01"),
        ("account::blobs", "Microsoft.Storage/storageAccounts/blobServices@2023-05-01"),
        ("account::blobs::photos", "Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01"),
        ("account::queues", "Microsoft.Storage/storageAccounts/queueServices@2023-01-01"),
    ]


def test_a_mistake_in_a_nested_resource_is_reported_even_beside_a_sibling() -> None:
    # pycep's JSON keeps only the last nested resource (queues); blobs' mistake must still be found.
    findings = conformance.check_text(NESTED, source="nested.bicep")
    assert _summary(findings) == [
        ("account::blobs", "properties.isVersioningEnabled", conformance.WRONG_KIND),
        ("account::queues", "", conformance.UNKNOWN_TYPE_VERSION),  # 2023-01-01 is not vendored
    ]


@pytest.mark.parametrize(
    ("value", "ok"),
    [("'Standard_LRS'", True), ("'Standard_XRS'", False), ("cond ? 'Standard_LRS' : 'Standard_XRS'", False)],
)
def test_both_sides_of_a_conditional_are_checked(value: str, ok: bool) -> None:
    text = NESTED.replace("sku: { name: 'Standard_LRS' }", f"sku: {{ name: {value} }}")
    text = text.replace("param accountName string", "param accountName string\nparam cond bool")
    found = [(symbol, path) for symbol, path, _ in _summary(conformance.check_text(text, source="nested.bicep"))]
    assert (("account", "sku.name") in found) == (not ok)


def test_a_variable_is_followed_to_its_literal_value() -> None:
    text = NESTED.replace("param accountName string", "param accountName string\nvar sku = { name: 'Standard_XRS' }")
    text = text.replace("sku: { name: 'Standard_LRS' }", "sku: sku")
    findings = [f for f in conformance.check_text(text, source="nested.bicep") if f.symbol == "account"]
    assert _summary(findings) == [("account", "sku.name", conformance.ENUM)]
