"""infra/deploy.sh publishes a model version once, as `sitelens models publish` does: run for real (its azd
post-provision step) against a stand-in `az` that keeps blobs in a folder (there is no Azure here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from batch_tasks.models.publish import plan
from tests.support.onnx_models import write_classify_model
from tests.unit.infra import bicep

DEPLOY = bicep.INFRA / "deploy.sh"
OUTPUTS = {"STORAGE_ACCOUNT": "stdevabc", "NODE_PACKAGE_CONTAINER": "node-package", "MODELS_CONTAINER": "models"}
# Records each call; `storage blob exists|download|upload` read and write FAKE_STATE/blobs/CONTAINER/NAME.
FAKE_AZ = """\
#!{python}
import json, os, shutil, sys
from pathlib import Path
args = sys.argv[1:]
state = Path(os.environ["FAKE_STATE"])
with (state / "calls.jsonl").open("a") as f:
    f.write(json.dumps(args) + "\\n")
option = lambda name: args[args.index(name) + 1]
if args[:2] == ["storage", "blob"]:
    blob = state / "blobs" / option("--container-name") / option("--name")
    if args[2] == "exists":
        print("true" if blob.is_file() else "false")
    elif args[2] == "download":
        shutil.copyfile(blob, option("--file"))
    elif args[2] == "upload":
        blob.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(option("--file"), blob)
"""


def post_provision(tmp_path: Path, model: Path) -> subprocess.CompletedProcess[str]:
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir(exist_ok=True)
    (fake_bin / "az").write_text(FAKE_AZ.format(python=sys.executable))
    (fake_bin / "az").chmod(0o755)
    environ = {"PATH": f"{fake_bin}:{os.environ['PATH']}", "HOME": str(tmp_path), "FAKE_STATE": str(tmp_path),
               "PYTHON": sys.executable, "SITELENS_RETRY_PAUSE_S": "0", "SITELENS_MODEL_DIR": str(model),
               "AZURE_ENV_NAME": "dev", **OUTPUTS}  # fmt: skip
    return subprocess.run(["bash", str(DEPLOY), "azd-postprovision"], capture_output=True, text=True, env=environ,
                          timeout=300, check=False, stdin=subprocess.DEVNULL)  # fmt: skip


def model_calls(tmp_path: Path, verb: str) -> list[list[str]]:
    made = [json.loads(line) for line in (tmp_path / "calls.jsonl").read_text().splitlines()]
    return [c for c in made if c[:3] == ["storage", "blob", verb] and "models" in c]


def name_of(call: list[str]) -> str:
    return call[call.index("--name") + 1]


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return write_classify_model(tmp_path / "model", name="site-check")


def store(tmp_path: Path, blob: str, data: bytes) -> Path:
    path = tmp_path / "blobs" / "models" / blob
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_a_version_not_yet_published_is_uploaded_manifest_last(tmp_path: Path, model: Path) -> None:
    result = post_provision(tmp_path, model)
    assert result.returncode == 0, result.stderr[-3000:]
    lookups = model_calls(tmp_path, "exists")
    assert [name_of(c) for c in lookups] == ["site-check/1.0.0/manifest.json"]
    assert lookups[0][lookups[0].index("--auth-mode") + 1] == "login"
    assert [name_of(c) for c in model_calls(tmp_path, "upload")] == [u.blob for u in plan(model)]
    published = tmp_path / "blobs/models/site-check/1.0.0/manifest.json"
    assert published.read_bytes() == (model / "manifest.json").read_bytes()


def test_a_version_published_with_the_same_manifest_is_left_as_it_is(tmp_path: Path, model: Path) -> None:
    document = json.loads((model / "manifest.json").read_text())
    same = json.dumps(dict(reversed(document.items())), indent=4).encode()  # the same document, other bytes
    stored = store(tmp_path, "site-check/1.0.0/manifest.json", same)
    result = post_provision(tmp_path, model)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "site-check/1.0.0 is already published with this manifest: nothing to upload" in result.stderr
    assert [name_of(c) for c in model_calls(tmp_path, "download")] == ["site-check/1.0.0/manifest.json"]
    assert model_calls(tmp_path, "upload") == []
    assert stored.read_bytes() == same


def test_a_version_published_with_another_manifest_stops_the_deployment_and_uploads_none_of_it(
    tmp_path: Path, model: Path
) -> None:
    """deploy.sh uploaded over it with --overwrite: nodes that had the version kept other weights than new ones.
    And it stopped only after the node package was uploaded, so nodes got a package whose model never followed."""
    document = json.loads((model / "manifest.json").read_text())
    document["files"]["model"]["sha256"] = "0" * 64  # other weights
    other = json.dumps(document).encode()
    stored = store(tmp_path, "site-check/1.0.0/manifest.json", other)
    result = post_provision(tmp_path, model)
    assert result.returncode == 1
    assert "site-check/1.0.0 is already published with a different manifest (version_published)" in result.stderr
    assert model_calls(tmp_path, "upload") == []
    assert stored.read_bytes() == other
    assert not (tmp_path / "blobs/models/site-check/1.0.0/model.onnx").exists()
    assert not (tmp_path / "blobs/node-package").exists()
