"""infra/deploy.sh run for real against a recording stand-in for `az` and `curl` (there is no Azure here):
the steps in order, the outputs it reads, retries, the model published manifest last, and no key in its output
(the Event Grid subscription itself: test_deploy_event_subscription.py). teardown.sh's refusals too."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from batch_tasks.models.publish import plan
from tests.unit.infra import bicep

DEPLOY = bicep.INFRA / "deploy.sh"
TEARDOWN = bicep.INFRA / "teardown.sh"
MODEL = bicep.REPO / "models" / "ocr" / "ppocrv4"
BLOB_KEY = "blob-extension-key-not-to-be-printed"
OUTPUTS = {
    "STORAGE_ACCOUNT": "stdevabc",
    "NODE_PACKAGE_CONTAINER": "node-package",
    "MODELS_CONTAINER": "models",
    "FUNCTION_APP_NAME": "func-sitelens-dev-abc",
    "FUNCTION_APP_HOSTNAME": "func-sitelens-dev-abc.azurewebsites.net",
    "EVENT_GRID_TOPIC": "evgt-sitelens-dev",
    "EVENT_GRID_DEAD_LETTER_CONTAINER_ID": "/subscriptions/s/resourceGroups/rg-sitelens-dev/providers/"
    "Microsoft.Storage/storageAccounts/stdevabc/blobServices/default/containers/eventgrid-deadletter",
    "BATCH_ACCOUNT": "batsitelensdevabc",
}
TOPIC_ID = (
    "/subscriptions/s/resourceGroups/rg-sitelens-dev/providers/Microsoft.EventGrid/systemTopics/evgt-sitelens-dev"
)
# What the stand-in answers to the quota check's queries, unless the test says otherwise (FAKE_BATCH_SKUS,
# FAKE_BATCH_QUOTAS): the pool's size as `az batch location list-skus` lists it, and a quota that covers maxNodes.
BATCH_SKUS = [{"name": "Standard_NC4as_T4_v3", "familyName": "standardNCASv3_T4Family",
               "capabilities": [{"name": "MaxResourceVolumeMB", "value": "180224"},
                                {"name": "vCPUs", "value": "4"}]}]  # fmt: skip
BATCH_QUOTAS = {"pools": 100, "cores": 500, "perFamily": [{"name": "standardNCASv3_T4Family", "coreQuota": 16}],
                "enforced": True}  # fmt: skip
DEPLOYER_ID = "11111111-2222-3333-4444-555555555555"
# The stand-in: records each call (and the SITELENS_* environment of the deployment), answers the queries
# deploy.sh makes, fails where the test says. Its access token is a real JWT shape: header.payload.signature,
# with the claims FAKE_CLAIMS gives (oid and idtyp of a user by default). `az rest` PUT keeps its body file's mode
# and text as subscription-body-N.json; GET answers the provisioning states FAKE_SUBSCRIPTION_STATES lists. Reads of
# the group's deployments and of the activity log: fake_az_reads.py.
FAKE_AZ = """\
#!{python}
import base64, json, os, sys
from pathlib import Path
sys.path.insert(0, {repo!r})
from tests.unit.infra.fake_az_reads import READS, answer_read
args = sys.argv[1:]
state = Path(os.environ["FAKE_STATE"])
calls = state / "calls.jsonl"
with calls.open("a") as f:
    f.write(json.dumps(args) + "\\n")
n = sum(1 for line in calls.read_text().splitlines() if json.loads(line)[:3] == args[:3])
line = " ".join(args)
outputs = {outputs}
if line.startswith("account get-access-token"):
    claims = json.loads(os.environ.get("FAKE_CLAIMS", '{{"oid": "{deployer}", "idtyp": "user"}}'))
    part = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")
    print(part({{"typ": "JWT", "alg": "RS256"}}) + "." + part(claims) + ".c2lnbmF0dXJl")
elif line.startswith("account show --query user.type"):
    print(os.environ.get("FAKE_USER_TYPE", "user"))
elif line.startswith("group exists"):
    print(os.environ.get("FAKE_GROUP_EXISTS", "false"))  # a first deployment, unless the test says otherwise
elif line.startswith("group show"):
    print(os.environ.get("FAKE_GROUP_REGION", "westeurope"))
elif line.startswith("deployment group create") and "FAKE_DEPLOYMENT_ERROR" in os.environ:
    print("ERROR: " + os.environ["FAKE_DEPLOYMENT_ERROR"], file=sys.stderr)
    sys.exit(1)
elif line.startswith("keyvault list-deleted"):
    if "FAKE_DELETED_VAULTS" not in os.environ:
        print("AuthorizationFailed", file=sys.stderr)
        sys.exit(1)
    print(os.environ["FAKE_DELETED_VAULTS"])
elif line.startswith("deployment group create"):
    env = {{k: v for k, v in os.environ.items() if k.startswith("SITELENS_")}}
    (state / "deployment-env.json").write_text(json.dumps(env))
elif " ".join(args[:3]) in READS:
    sys.exit(answer_read(args, outputs))
elif line.startswith("storage blob exists") and "FAKE_STORED_MANIFEST" in os.environ:
    # The default model's version as an update finds it; storage the deployer cannot read until provisioning.
    if os.environ.get("FAKE_STORAGE_UNREADABLE_BEFORE_PROVISIONING") and not (state / "deployment-env.json").exists():
        print("AuthorizationPermissionMismatch", file=sys.stderr)
        sys.exit(1)
    print("true")
elif line.startswith("storage blob download"):
    Path(args[args.index("--file") + 1]).write_text(os.environ["FAKE_STORED_MANIFEST"])
elif line.startswith("storage blob upload") and n == 1 and "FAKE_ROLES_READY" not in os.environ:
    print("AuthorizationPermissionMismatch", file=sys.stderr)  # the role assignment has not arrived yet
    sys.exit(1)
elif line.startswith("batch location list-skus"):
    if "FAKE_SKUS_FAIL" in os.environ:
        print("ERROR: (AuthorizationFailed) no read access to Microsoft.Batch/locations", file=sys.stderr)
        sys.exit(1)
    listed = json.loads(os.environ.get("FAKE_BATCH_SKUS", {skus!r}))
    others = int(os.environ.get("FAKE_OTHER_SKUS", "0"))  # a region's whole list: hundreds of sizes
    print(json.dumps([{{"name": f"Standard_X{{n}}", "familyName": "x", "capabilities": []}} for n in range(others)]
                     + listed))
elif line.startswith("batch account show"):
    print(os.environ.get("FAKE_BATCH_QUOTAS", {quotas!r}))
elif line.startswith("functionapp deployment source") and n <= int(os.environ.get("FAKE_CODE_DEPLOY_FAILURES", "0")):
    print("ERROR: Status Code: 403, the app's identity may not read its package yet", file=sys.stderr)
    sys.exit(1)
elif line.startswith("functionapp keys list"):
    print("" if n == 1 else "{key}")  # the host has not started on the first ask
elif line.startswith("batch account list") and "FAKE_BATCH_ACCOUNTS" in os.environ:
    print(os.environ["FAKE_BATCH_ACCOUNTS"])
elif line.startswith("eventgrid system-topic show") and args[args.index("-n") + 1] == outputs["EVENT_GRID_TOPIC"]:
    print({topic_id!r})
elif args[:3] == ["rest", "--method", "put"]:
    body = Path(args[args.index("--body") + 1].removeprefix("@"))
    kept = [oct(body.stat().st_mode & 0o777), body.read_text()]
    (state / f"subscription-body-{{n}}.json").write_text(json.dumps(kept))
elif args[:3] == ["rest", "--method", "get"]:
    states = os.environ.get("FAKE_SUBSCRIPTION_STATES", "Succeeded").split(",")
    print(states[min(n, len(states)) - 1])
"""
FAKE_CURL = """\
#!/bin/sh
echo "$@" >> "$FAKE_STATE/curl.log"
echo '{{"status": "healthy"}}'
"""


def run(script: Path, args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir(exist_ok=True)
    az = FAKE_AZ.format(python=sys.executable, outputs=repr(OUTPUTS), key=BLOB_KEY, deployer=DEPLOYER_ID,
                        skus=json.dumps(BATCH_SKUS), quotas=json.dumps(BATCH_QUOTAS), topic_id=TOPIC_ID,
                        repo=str(bicep.REPO))  # fmt: skip
    (fake_bin / "az").write_text(az)
    (fake_bin / "curl").write_text(FAKE_CURL.format())
    for tool in ("az", "curl"):
        (fake_bin / tool).chmod(0o755)
    environ = {
        "PATH": f"{fake_bin}:{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "FAKE_STATE": str(tmp_path),
        "PYTHON": sys.executable,
        "SITELENS_RETRY_PAUSE_S": "0",
        **env,
    }
    return subprocess.run(["bash", str(script), *args], capture_output=True, text=True, env=environ, timeout=300,
                          check=False, stdin=subprocess.DEVNULL)  # fmt: skip


def calls(tmp_path: Path) -> list[list[str]]:
    return [json.loads(line) for line in (tmp_path / "calls.jsonl").read_text().splitlines()]


def option(call: list[str], name: str) -> str:
    return call[call.index(name) + 1]


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], list[Any], Path]:
    if not (MODEL / "manifest.json").exists():
        pytest.fail(f"{MODEL} is missing: run `make setup`")
    tmp = tmp_path_factory.mktemp("deploy")
    result = run(DEPLOY, ["dev", "rg-sitelens-dev", "westeurope"], tmp)
    return result, calls(tmp), tmp


def test_deploy_runs_every_step_in_order(deployed: tuple[Any, list[list[str]], Path]) -> None:
    result, made, _ = deployed
    assert result.returncode == 0, result.stderr[-3000:]
    steps = [" ".join(c[:3]) for c in made]
    order = ["group create", "deployment group create", "storage blob upload", "functionapp deployment source",
             "functionapp keys list", "rest --method put"]  # fmt: skip
    firsts = [next(i for i, s in enumerate(steps) if s.startswith(step)) for step in order]
    assert firsts == sorted(firsts), steps
    group = next(c for c in made if c[:2] == ["group", "create"])
    assert (option(group, "-n"), option(group, "-l")) == ("rg-sitelens-dev", "westeurope")
    deployment = next(c for c in made if c[:3] == ["deployment", "group", "create"])
    assert option(deployment, "--parameters") == str(bicep.INFRA / "main.dev.bicepparam")
    assert option(deployment, "-n") == "sitelens-dev"


def test_deploy_uploads_the_node_package_and_the_model_manifest_last(deployed: tuple[Any, list[Any], Path]) -> None:
    _, made, _ = deployed
    uploads = [c for c in made if c[:3] == ["storage", "blob", "upload"]]
    assert all(option(c, "--auth-mode") == "login" for c in uploads)  # shared key is off
    assert all(option(c, "--account-name") == OUTPUTS["STORAGE_ACCOUNT"] for c in uploads)
    node = [option(c, "--name") for c in uploads if option(c, "--container-name") == "node-package"]
    assert node == ["start-task.sh", "start-task.sh", "requirements.txt", "batch_tasks.zip"]  # first one retried
    models = [option(c, "--name") for c in uploads if option(c, "--container-name") == "models"]
    assert models == [u.blob for u in plan(MODEL)]
    assert models[-1].endswith("/manifest.json")


def test_deploy_subscribes_builds_remotely_and_checks_health_never_showing_the_key(deployed: Any) -> None:
    result, made, tmp = deployed
    assert BLOB_KEY not in result.stdout + result.stderr + (tmp / "calls.jsonl").read_text()  # nor in an argument
    put = next(c for c in made if c[:3] == ["rest", "--method", "put"])  # as the azd hook's (test_deploy_event_...)
    assert option(put, "--url").startswith(f"{TOPIC_ID}/eventSubscriptions/photos-blob-created?")
    assert f"https://{OUTPUTS['FUNCTION_APP_HOSTNAME']}/api/health" in (tmp / "curl.log").read_text()
    code = next(c for c in made if c[:4] == ["functionapp", "deployment", "source", "config-zip"])
    assert (option(code, "--build-remote"), Path(option(code, "--src")).name) == ("true", "app.zip")


def test_azd_hooks_need_the_outputs_in_the_environment(tmp_path: Path) -> None:
    result = run(DEPLOY, ["azd-postdeploy"], tmp_path)
    assert result.returncode == 1
    assert "RESOURCE_GROUP is not set" in result.stderr
    outputs = {k: v for k, v in OUTPUTS.items() if k != "EVENT_GRID_DEAD_LETTER_CONTAINER_ID"}
    result = run(DEPLOY, ["azd-postdeploy"], tmp_path, RESOURCE_GROUP="rg", **outputs)
    assert result.returncode == 1
    assert "EVENT_GRID_DEAD_LETTER_CONTAINER_ID is not set" in result.stderr


def test_deploy_stops_at_an_empty_output_before_anything_is_uploaded(tmp_path: Path) -> None:
    result = run(DEPLOY, ["dev", "rg-sitelens-dev", "westeurope"], tmp_path, FAKE_EMPTY_OUTPUT="STORAGE_ACCOUNT")
    assert result.returncode == 1
    assert "the deployment has no value for STORAGE_ACCOUNT" in result.stderr
    assert "could not read the outputs of deployment sitelens-dev" in result.stderr
    assert not any(c[:3] == ["storage", "blob", "upload"] for c in calls(tmp_path))


def test_deploy_stops_when_the_model_does_not_verify_before_anything_changes(tmp_path: Path) -> None:
    broken = tmp_path / "model"
    broken.mkdir()
    (broken / "manifest.json").write_bytes((MODEL / "manifest.json").read_bytes())  # its files are missing
    result = run(DEPLOY, ["dev", "rg-sitelens-dev", "westeurope"], tmp_path, SITELENS_MODEL_DIR=str(broken))
    assert result.returncode == 1
    assert f"the model at {broken} does not verify" in result.stderr
    made = [c[:3] for c in calls(tmp_path)]
    assert ["storage", "blob", "upload"] not in made and ["functionapp", "deployment", "source"] not in made
    assert ["group", "create", "-n"] not in made and ["deployment", "group", "create"] not in made


@pytest.mark.parametrize("stored_before_provisioning", [True, False])
def test_a_default_model_stored_with_another_manifest_stops_the_deploy_before_the_node_package(
    tmp_path: Path, stored_before_provisioning: bool
) -> None:
    """An update whose default model changed under the same version: the run stopped at the model, after the new
    node package was uploaded, and the app code never followed. Each re-run stopped there again. Where the
    existing deployment's storage can be read, it stops before the resource group and the templates change;
    where it cannot yet (the deployer's role is new), after them but before any upload."""
    document = json.loads((MODEL / "manifest.json").read_text())
    document["files"]["det"]["sha256"] = "0" * 64  # the version as an older release stored it
    env = {"FAKE_STORED_MANIFEST": json.dumps(document)}
    if not stored_before_provisioning:
        env["FAKE_STORAGE_UNREADABLE_BEFORE_PROVISIONING"] = "1"
    result = run(DEPLOY, ["dev", "rg-sitelens-dev", "westeurope"], tmp_path, **env)
    assert result.returncode == 1
    assert "ocr/ppocrv4 is already published with a different manifest (version_published)" in result.stderr
    made = calls(tmp_path)
    assert not [c for c in made if c[:3] == ["storage", "blob", "upload"]]  # neither the node package nor the model
    assert not [c for c in made if c[:3] == ["functionapp", "deployment", "source"]]
    provisioned = any(c[:3] == ["deployment", "group", "create"] for c in made)
    assert provisioned is not stored_before_provisioning
    read = [option(c, "--name") for c in made if c[:3] == ["storage", "blob", "download"]]
    assert read == ["ocr/ppocrv4/manifest.json"]


def test_deploy_uploads_nothing_of_a_default_model_stored_with_the_same_manifest(tmp_path: Path) -> None:
    stored = (MODEL / "manifest.json").read_text()
    result = run(DEPLOY, ["dev", "rg-sitelens-dev", "westeurope"], tmp_path, FAKE_STORED_MANIFEST=stored)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "ocr/ppocrv4 is already published with this manifest: nothing to upload" in result.stderr
    uploads = [c for c in calls(tmp_path) if c[:3] == ["storage", "blob", "upload"]]
    assert {option(c, "--container-name") for c in uploads} == {"node-package"}
    assert any(c[:3] == ["functionapp", "deployment", "source"] for c in calls(tmp_path))


def test_deploy_refuses_an_unknown_environment(tmp_path: Path) -> None:
    result = run(DEPLOY, ["staging", "rg", "westeurope"], tmp_path)
    assert result.returncode == 1
    assert "no parameter file" in result.stderr
    assert not any(c[:3] == ["deployment", "group", "create"] for c in calls(tmp_path))


def test_teardown_deletes_nothing_without_confirmation(tmp_path: Path) -> None:
    script = textwrap.dedent("""\
        #!/bin/sh
        echo "$@" >> "$FAKE_STATE/az.log"
        [ "$1 $2" = "group exists" ] && echo true
        exit 0
        """)
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "az").write_text(script)
    (fake_bin / "az").chmod(0o755)
    env = {"PATH": f"{fake_bin}:{os.environ['PATH']}", "FAKE_STATE": str(tmp_path)}
    refused = subprocess.run(["bash", str(TEARDOWN), "rg-x"], input="rg-other\n", capture_output=True, text=True,
                             env=env, timeout=60, check=False)  # fmt: skip
    assert refused.returncode == 1
    assert "group delete" not in (tmp_path / "az.log").read_text()
    confirmed = subprocess.run(["bash", str(TEARDOWN), "rg-x", "--yes"], capture_output=True, text=True, env=env,
                               timeout=60, check=False)  # fmt: skip
    assert confirmed.returncode == 0, confirmed.stderr
    assert "group delete -n rg-x --yes" in (tmp_path / "az.log").read_text()
