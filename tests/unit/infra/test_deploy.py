"""What deploy.sh ships and wires: the two packages (built by infra/package.py, run here for real), the
files the start task downloads, and the Event Grid subscription's target."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

from shared.uploads.naming import PHOTOS
from tests.unit.infra import bicep

PACKAGE = bicep.INFRA / "package.py"
DEPLOY = (bicep.INFRA / "deploy.sh").read_text()


def build(kind: str, out: Path) -> None:
    subprocess.run([sys.executable, str(PACKAGE), kind, str(out)], check=True, capture_output=True, timeout=120)


def test_app_package_holds_the_app_and_nothing_else(tmp_path: Path) -> None:
    build("app", tmp_path / "app.zip")
    names = zipfile.ZipFile(tmp_path / "app.zip").namelist()
    assert {"function_app.py", "host.json", "requirements.txt", "openapi.json", "shared/config.py"} <= set(names)
    tops = {name.split("/")[0] for name in names}
    assert tops == {
        "function_app.py",
        "host.json",
        "requirements.txt",
        "constraints.txt",
        "openapi.json",
        "shared",
        "batch_tasks",
    }
    # of the node's package, only what both sides share: the path builder, the SDK retry rule, OpenCV's limits
    shared_with_node = sorted(n for n in names if n.startswith("batch_tasks/"))
    assert shared_with_node == ["batch_tasks/__init__.py", "batch_tasks/artifacts.py", "batch_tasks/azure_retry.py",
                                "batch_tasks/ocr/__init__.py", "batch_tasks/ocr/opencv.py",
                                "batch_tasks/ocr/transparency.py", "batch_tasks/telemetry.py",
                                "batch_tasks/telemetry_files.py"]  # fmt: skip
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def test_app_package_builds_result_paths_and_caps_opencv_without_the_repository(tmp_path: Path) -> None:
    build("app", tmp_path / "app.zip")
    app = tmp_path / "app"
    zipfile.ZipFile(tmp_path / "app.zip").extractall(app)
    code = (f"import os, sys; sys.path.insert(0, {str(app)!r}); "
            "os.environ['OPENCV_IO_MAX_IMAGE_PIXELS'] = str(10**12); "  # an inherited, too generous value
            "from shared.jobs import ids; import shared.validation.image, shared.adapters.azure_errors; "
            "print(ids.result_path('j_x'), os.environ['OPENCV_IO_MAX_IMAGE_PIXELS'])")  # fmt: skip
    result = subprocess.run([sys.executable, "-I", "-c", code], check=False, cwd=tmp_path, capture_output=True,
                            text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["j_x/result.json", "50000000"]


def test_app_folder_for_azd_has_the_same_files(tmp_path: Path) -> None:
    build("app", tmp_path / "app.zip")
    build("app-dir", tmp_path / "api")
    files = sorted(p.relative_to(tmp_path / "api").as_posix() for p in (tmp_path / "api").rglob("*") if p.is_file())
    assert files == sorted(zipfile.ZipFile(tmp_path / "app.zip").namelist())


def test_node_package_is_batch_tasks_alone_and_reproducible(tmp_path: Path) -> None:
    build("node", tmp_path / "a.zip")
    build("node", tmp_path / "b.zip")
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()  # the node venv is keyed by hash
    names = zipfile.ZipFile(tmp_path / "a.zip").namelist()
    assert {n.split("/")[0] for n in names} == {"batch_tasks"}
    assert {"batch_tasks/start.py", "batch_tasks/task.py", "batch_tasks/requirements.txt"} <= set(names)


def test_node_package_imports_without_the_repository(tmp_path: Path) -> None:
    build("node", tmp_path / "node.zip")
    app = tmp_path / "app"
    zipfile.ZipFile(tmp_path / "node.zip").extractall(app)
    # -I: no PYTHONPATH, no user site; run from the extracted folder only, as the node venv's .pth does.
    code = f"import sys; sys.path.insert(0, {str(app)!r}); import batch_tasks.start, batch_tasks.task; print('ok')"
    command = [sys.executable, "-I", "-c", code]
    result = subprocess.run(command, check=False, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_deploy_uploads_every_file_the_start_task_downloads() -> None:
    for name in bicep.variable(bicep.module("batch"), "nodeFiles"):
        assert re.search(rf'upload "\$NODE_PACKAGE_CONTAINER" {re.escape(name)} ', DEPLOY), name


def test_event_grid_subscription_targets_the_blob_trigger_on_photos() -> None:
    app = (bicep.REPO / "function_app.py").read_text()
    trigger = re.search(r'@app\.blob_trigger\([^)]*path="(\w+)/\{name\}"[^)]*\)(?:\s*#.*)?\s*def (\w+)\(', app)
    assert trigger, "function_app.py's blob trigger"
    container, function = trigger.groups()
    assert container == PHOTOS
    assert f"BLOB_FUNCTION={function}\n" in DEPLOY
    assert "functionName=Host.Functions.$BLOB_FUNCTION" in DEPLOY
    # The subscription's body (the whole of it: test_deploy_event_subscription.py).
    assert f'"subjectBeginsWith": "/blobServices/default/containers/{container}/"' in DEPLOY
    assert '"includedEventTypes": ["Microsoft.Storage.BlobCreated"]' in DEPLOY


def test_deploy_prints_no_keys() -> None:
    assert "set -x" not in DEPLOY
    for line in DEPLOY.splitlines():
        if "log " in line or "echo" in line:
            assert "$key" not in line and "${key" not in line, line
