"""The access-control docs say what the code does: which key a device gets, what no key can do (sites), how
keys are revoked, and who the node server runs as.

A device's key is a function key set on the functions the field clients call. Those are found by running the
clients' own API calls against a recorder and matching each path to the routes `function_app.py` declares, so
a renamed function or a new call makes the docs' `az functionapp function keys` commands wrong, and this says so.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest

from batch_tasks import start
from sitelens.api_client import ApiClient
from sitelens.sync_command import job_lookup
from sitelens.upload_command import http_requester

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
KEY_LOOP = re.compile(r"for fn in ([\w ]+); do\n\s+az functionapp function keys (set|delete)")
JOB_ID = "j_" + "a" * 26


def read(name: str) -> str:
    return (DOCS / name).read_text()


def flat(text: str) -> str:
    """Prose with its line breaks as spaces, so that a phrase is found wherever the lines wrap."""
    return re.sub(r"\s+", " ", text)


def section(text: str, heading: str) -> str:
    """The lines under `heading` up to the next heading of the same or a higher level (a `# comment` in a
    fenced block is not a heading)."""
    level = len(heading.split(" ", 1)[0])
    taken: list[str] = []
    fenced = inside = False
    for line in text.splitlines():
        fenced ^= line.startswith("```")
        marks = len(line) - len(line.lstrip("#"))
        if not fenced and line.startswith("#") and line[marks : marks + 1] == " " and marks <= level:
            inside = line == heading
        if inside:
            taken.append(line)
    assert taken, f"no heading {heading!r}"
    return "\n".join(taken)


def function_names_by_route() -> dict[tuple[str, str], str]:
    """(method, route template) -> the Functions function name, from the `_route(route, method)` decorators."""
    tree = ast.parse((REPO / "function_app.py").read_text())
    names: dict[tuple[str, str], str] = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef):
            continue
        for decorator in node.decorator_list:
            if isinstance(decorator, ast.Call) and getattr(decorator.func, "id", None) == "_route":
                route, method = (arg.value for arg in decorator.args[:2] if isinstance(arg, ast.Constant))
                names[(str(method), str(route))] = node.name
    return names


def function_called(method: str, path: str) -> str:
    """The function a client's call reaches: its path matched against every route template."""
    for (route_method, route), name in function_names_by_route().items():
        pattern = re.sub(r"\\{\w+\\}", "[^/]+", re.escape(route))
        if route_method == method and re.fullmatch(pattern, path.split("?", 1)[0].lstrip("/")):
            return name
    raise AssertionError(f"no function serves {method} {path}")


def device_functions(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """What `sitelens sync` and `sitelens upload` call: the upload request and the job lookup."""
    calls: list[tuple[str, str]] = []

    def record(
        _: ApiClient, method: str, path: str, body: dict[str, Any] | None = None
    ) -> tuple[int, dict[str, Any], None]:
        calls.append((method, path))
        return 200, {}, None

    monkeypatch.setattr(ApiClient, "exchange", record)
    http_requester("https://app.invalid/api", "k")({"site_id": "s", "device_id": "d", "photo_id": "p"})
    job_lookup(ApiClient("https://app.invalid/api", "k"))(JOB_ID)
    return {function_called(method, path) for method, path in calls}


def test_a_devices_key_is_set_on_exactly_the_functions_the_field_clients_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    called = device_functions(monkeypatch)
    assert called == {"request_upload", "get_job"}  # the names the docs' prose uses too
    loops = KEY_LOOP.findall(read("deploy.md"))
    assert {verb for _, verb in loops} == {"set", "delete"}, "deploy.md creates and revokes a device's key"
    for functions, verb in loops:
        assert set(functions.split()) == called, f"the `keys {verb}` loop names other functions"
    assert all(f"`{name}`" in read("field.md") for name in called)


def test_no_doc_hands_a_device_the_host_key() -> None:
    for doc in [REPO / "README.md", *DOCS.glob("*.md")]:
        assert "functionKeys.default" not in doc.read_text(), f"{doc.name} reads the default host key for a device"
    assert "SITELENS_API_KEY=<function key>" not in read("field.md")


def test_deploy_says_how_to_rotate_and_revoke_keys_and_links() -> None:
    keys = flat(section(read("deploy.md"), "## Keys"))
    for command in (
        "az functionapp function keys delete",
        "az functionapp keys set",
        "az functionapp keys delete",
        "az storage account revoke-delegation-keys",
    ):
        assert command in keys, command
    assert "upload link in flight" in keys and "read link" in keys, "revoking the delegation keys ends every link"


def test_the_api_and_deploy_docs_say_there_are_no_site_boundaries() -> None:
    who = flat(section(read("api.md"), "## Who may call what"))
    assert "no site boundaries" in who and "gateway" in who
    assert "Per-site isolation is not provided" in flat(section(read("deploy.md"), "## Keys"))


def test_the_docs_say_who_the_node_server_runs_as() -> None:
    unit = start.unit_text({"AZ_BATCH_NODE_SHARED_DIR": "/n"})
    assert "User=" not in unit, "the server has a user of its own now: update node.md#security and architecture.md"
    assert "same user as the node server" not in flat(read("architecture.md"))
    assert "In Azure the server runs as root" in flat(section(read("node.md"), "## Security"))


def test_the_templates_do_not_overstate_what_the_sas_policy_and_the_nodes_identity_limit() -> None:
    """Every link is a user delegation SAS (shared key is off), which the account's SAS policy does not bind, and
    the nodes' identity reads every site's task inputs and results: the templates' own words must not say less."""
    infra = REPO / "infra"
    identities = flat((infra / "modules" / "identities.bicep").read_text())
    assert "never read photos or write job records" not in identities
    assert "end or forge any open job" in identities
    for template in (infra / "main.bicep", infra / "modules" / "storage.bicep"):
        text = flat(template.read_text())
        assert "Longest lifetime of any SAS" not in text and "Longest SAS lifetime" not in text, template.name
        assert "24 h link" not in text, f"{template.name}: task inputs use no SAS"
        assert "only" in text and "account key" in text, f"{template.name}: say what the policy binds"
