"""Operator settings the templates do not set: a deployment writes the app's whole settings list and the pool's
whole start task, so a value changed in the portal is reset by the next one. `extraAppSettings` and
`nodeSettings` (infra/main.bicep) carry them; the templates are evaluated here with values given to them, as
ARM would expand them (tests/unit/infra/bicep_eval.py)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from batch_tasks.start import server_environment
from tests.unit.infra import bicep
from tests.unit.infra.bicep_eval import Evaluator, name_value_list
from tests.unit.infra.test_function_app import read_by_the_app

MAIN = bicep.main()
DOCS = bicep.REPO / "docs"


def call_arguments(module: str, main_arguments: dict[str, Any]) -> dict[str, Any]:
    """What main.bicep passes to a module, evaluated with main's parameters set to `main_arguments`."""
    main = Evaluator(MAIN, main_arguments)
    params = bicep.body(MAIN["modules"][module]["config"])["params"]
    return {name: main.evaluate(value) for name, value in params.items()}


def app_settings(**main_arguments: Any) -> list[tuple[str, str]]:
    functions = bicep.module("functions")
    evaluator = Evaluator(functions, call_arguments("functions", main_arguments))
    return name_value_list(bicep.at(bicep.resource(functions, "app"), "properties/siteConfig/appSettings"), evaluator)


def start_task_environment(**main_arguments: Any) -> list[tuple[str, str]]:
    batch = bicep.module("batch")
    evaluator = Evaluator(batch, call_arguments("batch", main_arguments))
    start_task = bicep.resource(batch, "pool")["properties"]["startTask"]
    return name_value_list(start_task["environmentSettings"], evaluator)


@pytest.mark.parametrize("name", ["extraAppSettings", "nodeSettings"])
def test_both_parameters_are_objects_that_default_to_nothing(name: str) -> None:
    assert MAIN["parameters"][name]["type"] == "object"
    assert MAIN["parameters"][name]["default"] == {}


def test_by_default_the_settings_are_the_templates_alone() -> None:
    settings = dict(app_settings())
    assert "OTEL_TRACES_SAMPLER" not in settings
    assert json.loads(settings["SITELENS_TASK_ENV"]) == {
        "SITELENS_STORAGE_BLOB_URL": "<storage.outputs.blobEndpoint>",
        "SITELENS_STORAGE_QUEUE_URL": "<storage.outputs.queueEndpoint>",
        "SITELENS_NODE_CLIENT_ID": "<identities.outputs.nodeClientId>",
    }
    assert [name for name, _ in start_task_environment()] == sorted([
        "SITELENS_STORAGE_BLOB_URL", "SITELENS_STORAGE_QUEUE_URL", "SITELENS_NODE_CLIENT_ID", "SITELENS_WARM_MODELS",
        "APPLICATIONINSIGHTS_CONNECTION_STRING", "APPLICATIONINSIGHTS_AUTHENTICATION_STRING"])  # fmt: skip


def test_extra_app_settings_are_merged_last_and_rendered_as_strings() -> None:
    extra = {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1",
             "SITELENS_DEFAULT_MODEL": "ocr/other", "SITELENS_MAX_PHOTO_BYTES": 1048576}  # fmt: skip
    settings = app_settings(extraAppSettings=extra)
    names = [name for name, _ in settings]
    assert len(names) == len(set(names)), "a name given twice"
    found = dict(settings)
    assert found["OTEL_TRACES_SAMPLER"] == "parentbased_traceidratio"
    assert found["OTEL_TRACES_SAMPLER_ARG"] == "0.1"
    assert found["SITELENS_DEFAULT_MODEL"] == "ocr/other"  # the operator's replaces the template's
    assert found["SITELENS_MAX_PHOTO_BYTES"] == "1048576"
    assert found["AzureWebJobsStorage__credential"] == "managedidentity"  # the rest stays


@pytest.mark.parametrize("given", ['{"SITELENS_TASK_TIMEOUT_S": "500"}', {"SITELENS_TASK_TIMEOUT_S": "500"}])
def test_an_operators_task_environment_adds_to_the_one_tasks_need(given: Any) -> None:
    """Replacing SITELENS_TASK_ENV whole would drop the storage endpoints: no task could read its input."""
    task_env = json.loads(dict(app_settings(extraAppSettings={"SITELENS_TASK_ENV": given}))["SITELENS_TASK_ENV"])
    assert task_env["SITELENS_TASK_TIMEOUT_S"] == "500"
    assert task_env["SITELENS_STORAGE_BLOB_URL"] == "<storage.outputs.blobEndpoint>"
    assert task_env["SITELENS_NODE_CLIENT_ID"] == "<identities.outputs.nodeClientId>"


def test_node_settings_reach_the_start_task_once_each_the_operators_value_winning() -> None:
    given = {"SITELENS_PROVIDER": "cuda", "SITELENS_MAX_BATCH": 16, "SITELENS_WARM_MODELS": "ocr/ppocrv4,ocr/other"}
    environment = start_task_environment(nodeSettings=given)
    names = [name for name, _ in environment]
    assert len(names) == len(set(names)), "Batch refuses a start task that names a variable twice"
    found = dict(environment)
    assert found["SITELENS_PROVIDER"] == "cuda"
    assert found["SITELENS_MAX_BATCH"] == "16"
    assert found["SITELENS_WARM_MODELS"] == "ocr/ppocrv4,ocr/other"  # replaces the default model alone
    assert found["SITELENS_STORAGE_BLOB_URL"] == "<storage.outputs.blobEndpoint>"
    assert set(server_environment(found)) >= set(given)  # batch_tasks/start.py passes them to the node server


def commented_example(text: str, parameter: str) -> dict[str, str]:
    """The `// param NAME = { ... }` example of a parameter file, as names and values."""
    block = re.search(rf"^// param {parameter} = \{{\n((?://   .*\n)+)// \}}$", text, re.M)
    assert block, f"no commented example of {parameter}"
    return dict(re.findall(r"^//   (\w+): '(.*)'$", block.group(1), re.M))


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_the_parameter_files_show_an_example_only_as_a_comment(env: str) -> None:
    text = (bicep.INFRA / f"main.{env}.bicepparam").read_text()
    assert not re.search(r"^param (extraAppSettings|nodeSettings)\b", text, re.M)
    node = commented_example(text, "nodeSettings")
    assert node and set(server_environment(node)) == set(node), "an example the node server would not see"
    app = commented_example(text, "extraAppSettings")
    unknown = {n for n in app if not n.startswith("OTEL_TRACES_SAMPLER") and n not in read_by_the_app()}
    assert app and not unknown, unknown
    if "SITELENS_TASK_ENV" in app:
        json.loads(app["SITELENS_TASK_ENV"])


def test_the_docs_say_where_such_settings_go() -> None:
    configuration = (DOCS / "configuration.md").read_text()
    deploy = (DOCS / "deploy.md").read_text()
    for name in ("extraAppSettings", "nodeSettings"):
        assert f"`{name}`" in configuration and f"`{name}`" in deploy, name
    assert "no change, no effect" not in deploy  # a re-deployment resets what the portal changed
