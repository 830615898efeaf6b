"""infra/checks/refresh_bicep_types.py on a small bicep-types-az checkout (a real git work tree): it vendors
exactly the resource types asked for and the types they reference, renumbered and without descriptions,
from index.json or, where a checkout lacks it, by searching the namespace's folders; it stops on a type
or API version that does not exist.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path
from types import ModuleType

import pytest

from tests.unit.infra import bicep
from tests.unit.infra.bicep_type_definitions import TypeDefinitions


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
