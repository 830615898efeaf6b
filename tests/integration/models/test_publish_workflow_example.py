"""docs/examples/publish-model.yml, run as GitHub Actions runs it, so that a broken flag, path or command in the
example users copy fails here rather than in their CI.

The YAML is checked (the tag trigger, the OIDC permission, the steps in order); then its `run:` steps run for
real, in order, with bash (`bash -e` by default, `bash --noprofile --norc -eo pipefail` for `shell: bash`), in
a folder laid out like the user's checkout: the exported detect graph at model-exports/pipe-defects/model.onnx,
its labels.txt and a few photos. Each step gets the workflow's `env:`, the tag in GITHUB_REF_NAME and a fresh
GITHUB_OUTPUT file whose `key=value` lines become `steps.<id>.outputs.<key>`; `${{ ... }}` expressions are
substituted from those values and the repository variables.

What cannot run here is left out or substituted:
- the `uses:` steps (checkout, setup-python, upload-artifact, azure/login) are GitHub's own actions: the folder
  stands for the checkout, this virtual environment for the Python, and the paths the artefact step would
  upload are checked to exist instead;
- the pip install step: this virtual environment already has the package, its `sitelens` first on PATH;
- publish signs in with Entra ID (`--account-url https://ACCOUNT.blob.core.windows.net`), impossible here, so
  the same command line runs with `--account-url URL` replaced by `--connection-string` of the test's Azurite.
"""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import io
import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]
from azure.storage.blob import BlobServiceClient

from sitelens import model_storage
from sitelens.cli import build_parser
from sitelens.field_photos import write_set
from tests.support.onnx_models import constant_graph, yolov8_rows

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]
WORKFLOW = REPO / "docs" / "examples" / "publish-model.yml"
TAG, VERSION = "pipe-defects-v1.1.0", "1.1.0"
LABELS = ("crack", "corrosion")
PHOTOS = 3
PUBLISHED = ("labels.txt", "manifest.json", "model.onnx")  # the folder `models init` makes, all of it uploaded
VARS = {"AZURE_CLIENT_ID": "client", "AZURE_TENANT_ID": "tenant", "AZURE_SUBSCRIPTION_ID": "subscription",
        "SITELENS_STORAGE_ACCOUNT": "sitelensmodels"}  # fmt: skip
# How GitHub runs a `run:` step on Linux: no `shell:` is `bash -e {0}`; `shell: bash` adds pipefail.
SHELLS = {None: ["bash", "-e"], "bash": ["bash", "--noprofile", "--norc", "-eo", "pipefail"]}
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
ACCOUNT_URL = re.compile(r"--account-url(?:\s+|=)(\"[^\"]*\"|'[^']*'|\S+)")
INSTALL = "pip install"
# Each step as `label` names it: the action it uses, else the sitelens command or pip install it runs, else its id.
STEPS = ["actions/checkout", "actions/setup-python", INSTALL, "id=version", "sitelens models init",
         "sitelens models test", "actions/upload-artifact", "azure/login", "sitelens models publish"]  # fmt: skip


@dataclass
class Run:
    contexts: dict[str, Any]  # the expression contexts after the last step: env, vars, steps' outputs, github
    publish: argparse.Namespace  # the publish command line as the example writes it, parsed by `sitelens`


class StepFailed(AssertionError):
    def __init__(self, label: str, done: subprocess.CompletedProcess[str]) -> None:
        super().__init__(f"step {label!r} exited {done.returncode}\n{done.stdout}\n{done.stderr}")
        self.label, self.done = label, done


def label(step: dict[str, Any]) -> str:
    if "uses" in step:
        return str(step["uses"]).split("@")[0]
    found = re.search(rf"sitelens models \w+|{INSTALL}", step["run"])
    return found.group(0) if found else f"id={step.get('id')}"


def the_job(workflow: dict[Any, Any]) -> dict[str, Any]:
    [job] = workflow["jobs"].values()
    return dict(job)


def expand(text: str, contexts: dict[str, Any]) -> str:
    """`${{ a.b.c }}` replaced by that value; anything but a plain lookup fails, so a new kind of expression in
    the example is noticed here rather than passed to bash as it is."""

    def value(match: re.Match[str]) -> str:
        node: Any = contexts
        for part in match.group(1).split("."):
            assert isinstance(node, dict) and part in node, f"no value for {match.group(0)} in {text!r}"
            node = node[part]
        return str(node)

    return EXPRESSION.sub(value, text)


def expanded(values: dict[str, Any], contexts: dict[str, Any]) -> dict[str, str]:
    return {key: expand(str(value), contexts) for key, value in values.items()}


def outputs_of(path: Path) -> dict[str, str]:
    lines = [line for line in path.read_text().splitlines() if line]
    assert all("=" in line and "<<" not in line for line in lines), lines  # key=value only: no delimited values
    return dict(line.split("=", 1) for line in lines)


def lay_out_checkout(checkout: Path) -> None:
    """What the workflow expects in the user's repository: an exported detect graph (yolov8 output, one crack in
    the middle of its 64 x 64 input), its labels and a few field photos."""
    exports = checkout / "model-exports" / "pipe-defects"
    exports.mkdir(parents=True)
    graph = constant_graph(yolov8_rows([(32, 32, 32, 32, 0, 0.9)], len(LABELS)), size=(64, 64))
    (exports / "model.onnx").write_bytes(graph.SerializeToString())
    (exports / "labels.txt").write_text("".join(f"{name}\n" for name in LABELS))
    write_set(exports / "photos", PHOTOS, size="vga")


def as_written(script: str, env: dict[str, str], cwd: Path) -> argparse.Namespace:
    """The arguments bash gives `sitelens` in `script`, recorded by a shell function instead of run, then parsed
    by the command's own parser: the Entra ID flag the real run replaces is checked here, offline."""
    record = Path(env["RUNNER_TEMP"]) / "publish.argv"
    recorder = f"sitelens() {{ printf '%s\\0' \"$@\" > {shlex.quote(str(record))}; }}\n"
    subprocess.run(["bash", "-e", "-c", recorder + script], cwd=cwd, env=env, check=True, timeout=30)
    return parsed(record.read_text().split("\0")[:-1])


def parsed(argv: list[str]) -> argparse.Namespace:
    """`sitelens ARGV` parsed by the command's own parser; an argument it refuses fails with its message."""
    try:
        with contextlib.redirect_stderr(io.StringIO()) as errors:
            return build_parser(argv).parse_args(argv)
    except SystemExit:
        raise AssertionError(f"sitelens {shlex.join(argv)}: {errors.getvalue()}") from None


def run_workflow(workflow_file: Path, checkout: Path, connection: str) -> Run:
    """Run the workflow's `run:` steps in `checkout`, in order. Raises StepFailed for the first step that exits
    non-zero."""
    workflow = yaml.safe_load(workflow_file.read_text())
    job = the_job(workflow)
    contexts: dict[str, Any] = {"env": {**workflow.get("env", {}), **job.get("env", {})}, "vars": VARS, "steps": {},
                                "github": {"ref": f"refs/tags/{TAG}", "ref_name": TAG}}  # fmt: skip
    runner = checkout.parent / "runner"
    runner.mkdir(exist_ok=True)
    base = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "CI": "true",
            "GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": str(checkout), "GITHUB_REF": f"refs/tags/{TAG}",
            "GITHUB_REF_NAME": TAG, "GITHUB_REF_TYPE": "tag", "RUNNER_TEMP": str(runner)}  # fmt: skip
    publish: argparse.Namespace | None = None
    for index, step in enumerate(job["steps"]):
        name = label(step)
        if "uses" in step or name == INSTALL:
            continue  # GitHub's actions and the install: see the module's docstring
        script = expand(step["run"], contexts)
        output = runner / f"output-{index}"
        output.write_text("")
        env = {**base, **expanded(contexts["env"], contexts), **expanded(step.get("env", {}), contexts)}
        env["GITHUB_OUTPUT"] = str(output)
        if name == "sitelens models publish":  # Entra ID cannot sign in here: the test's Azurite instead
            publish = as_written(script, env, checkout)
            script, count = ACCOUNT_URL.subn(f"--connection-string {shlex.quote(connection)}", script)
            assert count == 1, script
        (runner / f"step-{index}.sh").write_text(script)
        done = subprocess.run([*SHELLS[step.get("shell")], str(runner / f"step-{index}.sh")], cwd=checkout, env=env,
                              capture_output=True, text=True, check=False, timeout=120)  # fmt: skip
        if done.returncode != 0:
            raise StepFailed(name, done)
        if "id" in step:
            contexts["steps"][step["id"]] = {"outputs": outputs_of(output)}
    assert publish is not None, "the example has no publish step"
    return Run(contexts, publish)


def models_container(connection: str, prefix: str) -> dict[str, bytes]:
    container = BlobServiceClient.from_connection_string(connection).get_container_client("models")
    if not container.exists():
        return {}
    return {b.name: container.download_blob(b.name).readall() for b in container.list_blobs(name_starts_with=prefix)}


def test_the_example_triggers_on_the_models_tags_signs_in_with_oidc_and_publishes_last() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    on = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` key as the boolean true
    [pattern] = on["push"]["tags"]
    assert fnmatch.fnmatchcase(TAG, pattern) and not fnmatch.fnmatchcase("valve-state-v1.0.0", pattern)
    assert workflow["permissions"] == {"contents": "read", "id-token": "write"}
    job = the_job(workflow)
    # A job that names an environment gets an OIDC token whose subject names it, not the tag: the subject the
    # example tells users to give their federated credential must be that one.
    assert f"repo:OWNER/REPO:environment:{job['environment']}" in WORKFLOW.read_text()
    assert [label(step) for step in job["steps"]] == STEPS
    assert all(step.get("shell") in SHELLS for step in job["steps"] if "run" in step)
    [install] = [step["run"] for step in job["steps"] if label(step) == INSTALL]
    for named in re.findall(r"-[rc] (\S+)", install):  # the files the install step reads are in the repository
        assert (REPO / named).is_file(), named
    suggested = re.findall(r"^\s*#\s+sitelens (.+)$", WORKFLOW.read_text(), re.M)  # commands its comments suggest
    assert suggested, "the example no longer suggests the routing step"
    for line in suggested:
        parsed(shlex.split(line))


def test_the_examples_steps_make_test_and_publish_the_model(tmp_path: Path, storage_connection: str) -> None:
    checkout = tmp_path / "checkout"
    lay_out_checkout(checkout)
    run = run_workflow(WORKFLOW, checkout, storage_connection)
    contexts = run.contexts

    assert contexts["steps"]["version"]["outputs"] == {"version": VERSION}
    folder = checkout / "models" / "detect" / "pipe-defects" / VERSION
    manifest = json.loads((folder / "manifest.json").read_text())
    assert (manifest["name"], manifest["version"], manifest["task"]) == ("pipe-defects", VERSION, "detect")
    assert (manifest["output"]["score_threshold"], manifest["limits"]["max_batch"]) == (0.3, 8)  # init's flags
    results = (checkout / "results.txt").read_text()  # `models test`'s output, kept by tee
    assert results.count('"schema": "sitelens.detect.result/1"') == PHOTOS and '"label": "crack"' in results
    steps = the_job(yaml.safe_load(WORKFLOW.read_text()))["steps"]
    [upload] = [step for step in steps if label(step) == "actions/upload-artifact"]
    for path in expand(upload["with"]["path"], contexts).split():  # what the skipped artefact step would upload
        assert (checkout / path).is_file(), path

    stored = models_container(storage_connection, f"pipe-defects/{VERSION}/")
    assert sorted(stored) == [f"pipe-defects/{VERSION}/{name}" for name in PUBLISHED]
    assert json.loads(stored[f"pipe-defects/{VERSION}/manifest.json"]) == manifest
    # The line as written publishes the same folder to the account the repository variable names, signed in with
    # Entra ID (the client is only made: nothing leaves this machine).
    assert run.publish.folder == Path("models", "detect", "pipe-defects", VERSION)
    service = model_storage.blob_service(run.publish)
    assert service is not None
    with service:
        assert service.account_name == VARS["SITELENS_STORAGE_ACCOUNT"]
        assert type(service.credential).__name__ == "DefaultAzureCredential"


@pytest.mark.parametrize(
    ("written", "broken", "reported"),
    [("--max-batch 8", "--max-batches 8", r"step 'sitelens models init' exited 2(.|\n)*--max-batches"),
     ('--account-url "https', '--acount-url "https', r"unrecognized arguments: --acount-url")],
)  # fmt: skip
def test_a_broken_flag_in_the_example_stops_the_run(
    tmp_path: Path, storage_connection: str, written: str, broken: str, reported: str
) -> None:
    """The run above passes because the example works, not because a failing command goes unnoticed."""
    text = WORKFLOW.read_text()
    assert text.count(written) == 1
    (tmp_path / "publish-model.yml").write_text(text.replace(written, broken))
    lay_out_checkout(tmp_path / "checkout")
    with pytest.raises(AssertionError, match=reported):
        run_workflow(tmp_path / "publish-model.yml", tmp_path / "checkout", storage_connection)


def test_a_photo_that_fails_stops_the_workflow_before_publish(tmp_path: Path, storage_connection: str) -> None:
    """The test step pipes into tee: only its `shell: bash` (pipefail) keeps the failure from being hidden."""
    checkout = tmp_path / "checkout"
    lay_out_checkout(checkout)
    (checkout / "model-exports" / "pipe-defects" / "photos" / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    with pytest.raises(StepFailed) as failed:
        run_workflow(WORKFLOW, checkout, storage_connection)
    assert failed.value.label == "sitelens models test"
    assert "1 of 4 photos failed" in (checkout / "results.txt").read_text()
