"""Every template parses, and the wiring between them holds: what the Bicep CLI would catch, checked here.

There is no Bicep CLI on this machine, so the parameters a module is given, the outputs read from it,
and the parameter files are checked against the parsed templates.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.unit.infra import bicep

MAIN_TEXT = (bicep.INFRA / "main.bicep").read_text()


@pytest.mark.parametrize("path", bicep.bicep_files(), ids=lambda p: str(p.relative_to(bicep.INFRA)))
def test_every_template_parses(path: Path) -> None:
    template = bicep.parse(path)
    assert template["globals"]["scope"]["value"] == "resourceGroup"
    assert template.get("resources") or template.get("modules")


def test_the_templates_are_the_main_one_and_its_modules() -> None:
    used = {bicep.INFRA / mod["detail"]["path"] for mod in bicep.main()["modules"].values()}
    assert used == set(bicep.MODULES.glob("*.bicep")), "a module is unused, or main.bicep names a missing file"


@pytest.mark.parametrize("name", sorted(bicep.main()["modules"]))
def test_module_parameters_match_what_main_passes(name: str) -> None:
    mod = bicep.main()["modules"][name]
    declared = bicep.parse(bicep.INFRA / mod["detail"]["path"])["parameters"]
    passed = set(bicep.body(mod["config"])["params"])
    assert passed <= set(declared), f"{name}: passes undeclared {sorted(passed - set(declared))}"
    required = {p for p, spec in declared.items() if spec["default"] is None}
    assert required <= passed, f"{name}: misses required {sorted(required - passed)}"


def test_outputs_main_reads_exist_in_their_modules() -> None:
    modules = bicep.main()["modules"]
    for symbol, output in re.findall(r"\b(\w+)\.outputs\.(\w+)", MAIN_TEXT):
        outputs = bicep.parse(bicep.INFRA / modules[symbol]["detail"]["path"])["outputs"]
        assert output in outputs, f"{symbol}.outputs.{output} does not exist"


@pytest.mark.parametrize("path", bicep.bicep_files(), ids=lambda p: str(p.relative_to(bicep.INFRA)))
def test_every_parameter_is_used(path: Path) -> None:
    text = re.sub(r"//.*", "", path.read_text())
    for name in bicep.parse(path)["parameters"]:
        uses = len(re.findall(rf"(?<![\w.']){name}\b(?!:)", text)) - 1  # minus the declaration
        assert uses > 0, f"{path.name}: parameter {name} is never used"


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_parameter_files_set_only_declared_parameters(env: str) -> None:
    text = (bicep.INFRA / f"main.{env}.bicepparam").read_text()
    assert re.search(r"^using './main.bicep'$", text, re.M)
    declared = bicep.main()["parameters"]
    given = re.findall(r"^param (\w+) *=", text, re.M)
    assert len(given) == len(set(given)), "a parameter is set twice"
    assert set(given) <= set(declared), sorted(set(given) - set(declared))
    required = {p for p, spec in declared.items() if spec["default"] is None}
    assert required <= set(given)
    assert re.search(rf"^param environmentName = '{env}'$", text, re.M)


def test_azd_parameters_are_declared() -> None:
    given = json.loads((bicep.INFRA / "main.parameters.json").read_text())["parameters"]
    assert set(given) <= set(bicep.main()["parameters"])
    assert given["environmentName"]["value"] == "${AZURE_ENV_NAME}"


def test_azd_tag_names_the_service_azure_yaml_deploys() -> None:
    azure_yaml = (bicep.REPO / "azure.yaml").read_text()
    service = re.search(r"^services:\n  (\w+):", azure_yaml, re.M)
    assert service
    assert f"'azd-service-name': '{service.group(1)}'" in MAIN_TEXT
    assert re.search(r"^  path: infra$", azure_yaml, re.M)
    assert re.search(r"^  module: main$", azure_yaml, re.M)


@pytest.mark.parametrize("env", ["dev", "my-dev", "Prod-2"])
def test_account_names_are_valid_for_any_environment_name_azd_allows(env: str) -> None:
    """azd allows letters, digits and hyphens; storage and Batch account names take lowercase letters and
    digits only, so the template builds them from the name without its hyphens (a no-op for dev and prod)."""
    main = bicep.main()
    compact = bicep.render(main["variables"]["compactEnvironmentName"]["value"])
    assert compact == "to_lower(replace(environmentName, -, ))"  # pycep's rendering: toLower(replace(x, '-', ''))
    suffix = "abcdefghijklm"  # uniqueString: 13 lowercase letters and digits
    for module, parameter, prefix in (("storage", "storageAccountName", "st"), ("batch", "batchAccountName", "ba")):
        expression = bicep.render(bicep.body(main["modules"][module]["config"])["params"][parameter])
        assert expression == f"take({prefix}${{compactEnvironmentName}}${{suffix}}, 24)"
        name = (prefix + env.replace("-", "").lower() + suffix)[:24]
        assert re.fullmatch(r"[a-z0-9]{3,24}", name), name
