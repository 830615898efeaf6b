"""Build the two deployment packages from the repository (run by infra/deploy.sh and azd's hooks).

    python infra/package.py app  OUT.zip    # the Functions app: wiring, shared/, host.json, requirements.txt
                                            # and the modules it shares with the node (APP_NODE_MODULES)
    python infra/package.py node OUT.zip    # batch_tasks/ alone, unpacked onto the node venv's path
    python infra/package.py app-dir OUTDIR  # the app's files in a folder (azd deploys a folder)

Only source goes in: no tests, caches, local settings or models (models are published to their
container). The Functions app is built remotely from requirements.txt, so no packages are bundled.
"""

from __future__ import annotations

import shutil
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
APP_FILES = ("function_app.py", "host.json", "requirements.txt", "openapi.json")
# What the app shares with the node, one copy each: the builder of result paths (the app reads where the
# node writes), which SDK failures are worth a retry (both translate SDK errors by it), and OpenCV with its
# decode limits set before it loads (validation decodes the originals), and the telemetry set-up (both
# export the same way and read a traceparent by the same strict rule).
APP_NODE_MODULES = ("batch_tasks/__init__.py", "batch_tasks/artifacts.py", "batch_tasks/azure_retry.py",
                    "batch_tasks/ocr/__init__.py", "batch_tasks/ocr/opencv.py", "batch_tasks/telemetry.py",
                    "batch_tasks/telemetry_files.py")  # fmt: skip
APP_PACKAGES = ("shared",)
NODE_PACKAGES = ("batch_tasks",)
SKIPPED_DIRS = {"__pycache__", ".mypy_cache", ".pytest_cache"}
SKIPPED_SUFFIXES = {".pyc", ".pyo"}


def _sources(package: str) -> Iterator[Path]:
    for path in sorted((REPO / package).rglob("*")):
        relative = path.relative_to(REPO)
        if path.is_file() and not SKIPPED_DIRS & set(relative.parts) and path.suffix not in SKIPPED_SUFFIXES:
            yield relative


def app_files() -> list[Path]:
    files = [Path(name) for name in APP_FILES + APP_NODE_MODULES]
    return files + [p for pkg in APP_PACKAGES for p in _sources(pkg)]


def node_files() -> list[Path]:
    return [p for pkg in NODE_PACKAGES for p in _sources(pkg)]


def write_zip(files: list[Path], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for relative in files:
            # A fixed timestamp: the same sources give the same bytes, so the node venv's hash is stable.
            info = zipfile.ZipInfo(relative.as_posix(), date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, (REPO / relative).read_bytes())


def write_dir(files: list[Path], out: Path) -> None:
    if out.exists():
        shutil.rmtree(out)
    for relative in files:
        target = out / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO / relative, target)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("app", "node", "app-dir"):
        print("usage: package.py app|node|app-dir OUT", file=sys.stderr)
        return 2
    kind, out = argv[0], Path(argv[1]).resolve()
    if kind == "app-dir":
        write_dir(app_files(), out)
    else:
        write_zip(app_files() if kind == "app" else node_files(), out)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
