"""Every resource body in infra/ against Microsoft's published Bicep type definitions (a vendored subset of
Azure/bicep-types-az, infra/checks/bicep_types/), and proof that the check catches each kind of mistake:
a real template gets one mistake in an in-memory copy, and the checker must report exactly that one.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
from pathlib import Path
from types import ModuleType

import pytest

from tests.unit.infra import bicep
from tests.unit.infra import bicep_conformance as conformance
from tests.unit.infra.bicep_conformance import Finding
from tests.unit.infra.bicep_resources import declarations_in_text, infra_declarations
from tests.unit.infra.bicep_type_definitions import REFRESH_SCRIPT, TYPES_DIR, TypeDefinitions, vendored

STORAGE, BATCH, MONITORING, ROLES, FUNCTIONS = "storage", "batch", "monitoring", "roles", "functions"


def _check_module(name: str, anchor: str, replacement: str) -> list[Finding]:
    """The module's text with `anchor` (which must occur once) replaced, checked."""
    text = (bicep.MODULES / f"{name}.bicep").read_text()
    assert text.count(anchor) == 1, f"{name}.bicep no longer has exactly one {anchor!r}: pick another anchor"
    return conformance.check_text(text.replace(anchor, replacement), source=f"infra/modules/{name}.bicep")


def _after(anchor: str, line: str) -> tuple[str, str]:
    """Insert `line` below the line that ends with `anchor`, at the same indentation as the anchor's line."""
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
    "parent of the wrong type": (
        STORAGE, "  parent: blobService\n", "  parent: queueService\n",
        ("containers", "parent", conformance.WRONG_PARENT),
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


def _refresh_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "refresh_bicep_types", bicep.INFRA / "checks" / "refresh_bicep_types.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _ref(number: int) -> dict[str, str]:
    return {"$ref": f"#/{number}"}


def _types_checkout(root: Path, *, with_index: bool) -> str:
    """A two-file bicep-types-az checkout (a git work tree); returns its HEAD commit."""
    widgets = [
        {"$type": "StringType"},
        {"$type": "ResourceType", "name": "Microsoft.Foo/widgets@2024-01-01", "body": _ref(2)},
        {"$type": "ObjectType", "name": "Microsoft.Foo/widgets", "properties": {
            "name": {"type": _ref(0), "flags": 9, "description": "The name"},
            "properties": {"type": _ref(3), "flags": 0, "description": "Its properties"}}},
        {"$type": "ObjectType", "name": "WidgetProperties", "properties": {
            "description": {"type": _ref(0), "flags": 0, "description": "A property named description"},
            "size": {"type": _ref(4), "flags": 1}}},
        {"$type": "IntegerType", "minValue": 1},
        {"$type": "ObjectType", "name": "Unreferenced", "properties": {}},
        {"$type": "ResourceType", "name": "Microsoft.Foo/gadgets@2024-01-01", "body": _ref(5)},
    ]  # fmt: skip
    gizmos = [
        {"$type": "ResourceType", "name": "Microsoft.Foo/gizmos@2024-01-01", "body": _ref(1)},
        {"$type": "ObjectType", "name": "Microsoft.Foo/gizmos", "properties": {"name": {"type": _ref(2), "flags": 9}}},
        {"$type": "StringLiteralType", "value": "default"},
    ]  # fmt: skip
    files = {"generated/foo/microsoft.foo/2024-01-01/types.json": widgets,
             "generated/foo_1/microsoft.foo/2024-01-01/types.json": gizmos}  # fmt: skip
    if with_index:
        files["generated/index.json"] = {"resources": {  # type: ignore[assignment]
            "Microsoft.Foo/widgets@2024-01-01": {"$ref": "foo/microsoft.foo/2024-01-01/types.json#/1"},
            "Microsoft.Foo/gizmos@2024-01-01": {"$ref": "foo_1/microsoft.foo/2024-01-01/types.json#/0"}}}  # fmt: skip
    for path, content in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(json.dumps(content))
    git = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@localhost"]
    for command in (["init", "-q"], ["add", "."], ["commit", "-qm", "types"]):
        subprocess.run([*git, *command], check=True)
    return subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()


@pytest.mark.parametrize("with_index", [True, False], ids=["index.json", "no index.json"])
def test_the_refresh_script_vendors_only_what_is_asked_without_descriptions(tmp_path: Path, with_index: bool) -> None:
    script = _refresh_script()
    commit = _types_checkout(tmp_path / "checkout", with_index=with_index)
    wanted = ["Microsoft.Foo/widgets@2024-01-01", "Microsoft.Foo/gizmos@2024-01-01"]
    script.write_subset(script.TypesCheckout(tmp_path / "checkout"), wanted, tmp_path / "out")

    definitions = TypeDefinitions(tmp_path / "out")
    assert definitions.source_commit == commit
    assert definitions.resource_names == set(wanted)
    widget = definitions.resource("microsoft.foo/WIDGETS@2024-01-01")  # looked up case-insensitively
    assert widget is not None
    properties = widget.body["properties"]["properties"]["type"]["properties"]
    assert set(properties) == {"description", "size"}  # a property named description stays
    assert properties["size"]["type"] == {"$type": "IntegerType", "minValue": 1}
    gizmo = definitions.resource("Microsoft.Foo/gizmos@2024-01-01")  # merged into the same file, renumbered
    assert gizmo is not None and gizmo.body["properties"]["name"]["type"]["value"] == "default"
    vendored_text = (tmp_path / "out" / "microsoft.foo" / "2024-01-01.json").read_text()
    assert "Unreferenced" not in vendored_text and "gadgets" not in vendored_text
    assert '"description":"' not in vendored_text  # descriptions trimmed


def test_the_refresh_script_stops_on_a_type_or_version_that_does_not_exist(tmp_path: Path) -> None:
    script = _refresh_script()
    _types_checkout(tmp_path / "checkout", with_index=False)
    with pytest.raises(LookupError, match="widgets@2023-01-01"):
        script.write_subset(
            script.TypesCheckout(tmp_path / "checkout"), ["Microsoft.Foo/widgets@2023-01-01"], tmp_path / "out"
        )
