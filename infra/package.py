"""Build the two deployment packages from the repository (run by infra/deploy.sh and azd's hooks).

    python infra/package.py app  OUT.zip    # the Functions app: wiring, shared/, host.json, requirements.txt
                                            # and the modules it shares with the node (APP_NODE_MODULES)
    python infra/package.py node OUT.zip    # batch_tasks/ alone, unpacked onto the node venv's path
    python infra/package.py app-dir OUTDIR  # the app's files in a folder (azd deploys a folder)

Only source goes in: no tests, caches, local settings or models (models are published to their
container). The Functions app is built remotely from requirements.txt, so no packages are bundled; the shipped
requirements.txt adds `-c constraints.txt`, so that build installs the tested version of every package.
From the package folders only what git tracks is shipped, so an untracked `shared/.env`, an editor's swap
file or a `batch_tasks/.venv` never is; an untracked module is named on stderr (`git add` it to ship it).
Outside a git checkout the folders' `*.py` files and SOURCE_DATA are shipped, hidden folders skipped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
APP_FILES = ("function_app.py", "host.json", "requirements.txt", "constraints.txt", "openapi.json")
# Azure's remote build runs `pip install -r requirements.txt`, which pins only the app's direct packages: the
# shipped copy also names constraints.txt, so every transitive package is installed at the version the tests ran.
CONSTRAINED = "requirements.txt"
CONSTRAINT_LINE = b"-c constraints.txt\n"
# What the app shares with the node, one copy each: the builder of result paths (the app reads where the
# node writes), which SDK failures are worth a retry (both translate SDK errors by it), and OpenCV with its
# decode limits set before it loads (validation decodes the originals) and the way a transparent PNG is put
# over white, and the telemetry set-up (both export the same way and read a traceparent by the same strict
# rule).
APP_NODE_MODULES = ("batch_tasks/__init__.py", "batch_tasks/artifacts.py", "batch_tasks/azure_retry.py",
                    "batch_tasks/ocr/__init__.py", "batch_tasks/ocr/opencv.py", "batch_tasks/ocr/transparency.py",
                    "batch_tasks/telemetry.py", "batch_tasks/telemetry_files.py")  # fmt: skip
APP_PACKAGES = ("shared",)
NODE_PACKAGES = ("batch_tasks",)
# The package folders' files that are not Python, for a tree that is not a git checkout (a source archive).
SOURCE_DATA = ("shared/py.typed", "batch_tasks/requirements.txt")


def _git(*args: str) -> list[str]:
    """`git ARGS` in REPO, trusted whoever owns it. git refuses another user's work tree ("dubious ownership"),
    which would make a deploy run as root from someone's checkout fall back to the walk and ship untracked
    modules; trusting it adds no risk, since whoever runs this already runs that checkout's code."""
    return ["git", "-C", str(REPO), "-c", f"safe.directory={REPO}", *args]


def _in_git_checkout() -> bool:
    """Whether REPO is the top of a git work tree (a copy inside another repository is not: its index is not ours)."""
    try:
        top = subprocess.run(_git("rev-parse", "--show-toplevel"),
                             capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):  # no git, or not a work tree
        return False
    return Path(top).resolve() == REPO


def _git_paths(*ls_files_args: str) -> list[str]:
    out = subprocess.run(_git("ls-files", "-z", *ls_files_args),
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    return [name for name in out.split("\0") if name]


def _walked(package: str) -> list[Path]:
    """Outside git: the package's Python and its named data files; hidden folders (a .venv) and caches never."""
    files = []
    for path in sorted((REPO / package).rglob("*")):
        relative = path.relative_to(REPO)
        hidden = any(part.startswith(".") or part == "__pycache__" for part in relative.parts)
        if path.is_file() and not hidden and (path.suffix == ".py" or relative.as_posix() in SOURCE_DATA):
            files.append(relative)
    return files


def _sources(package: str) -> list[Path]:
    if not _in_git_checkout():
        return _walked(package)
    for name in _git_paths("--others", "--exclude-standard", "--", package):
        if name.endswith(".py"):  # most likely a new module not added yet: the package would lack it
            print(f"package.py: left out, not tracked by git: {name}", file=sys.stderr)
    # A tracked file deleted in the work tree is left out too: the package is what the tree will commit.
    return sorted(Path(name) for name in _git_paths("--", package) if (REPO / name).is_file())


def app_files() -> list[Path]:
    files = [Path(name) for name in APP_FILES + APP_NODE_MODULES]
    return files + [p for pkg in APP_PACKAGES for p in _sources(pkg)]


def node_files() -> list[Path]:
    return [p for pkg in NODE_PACKAGES for p in _sources(pkg)]


def shipped_bytes(relative: Path) -> bytes:
    data = (REPO / relative).read_bytes()
    if relative.as_posix() == CONSTRAINED:
        return data.rstrip(b"\n") + b"\n" + CONSTRAINT_LINE
    return data


def write_zip(files: list[Path], out: Path) -> None:
    """Written beside OUT, then renamed over it: whoever reads OUT meanwhile (an upload of the previous build) sees
    the old zip or the new one whole, never one half written."""
    out.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".partial")
    partial = Path(name)
    try:
        with (
            os.fdopen(handle, "wb") as stream,
            zipfile.ZipFile(stream, "w", compression=zipfile.ZIP_DEFLATED) as archive,
        ):
            for relative in files:
                # A fixed timestamp: the same sources give the same bytes, so the node venv's hash is stable.
                info = zipfile.ZipInfo(relative.as_posix(), date_time=(2020, 1, 1, 0, 0, 0))
                info.external_attr = 0o644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, shipped_bytes(relative))
        partial.chmod(0o644)  # mkstemp's file is private; the package is source, readable as the checkout is
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)


def write_dir(files: list[Path], out: Path) -> None:
    if out.exists():
        shutil.rmtree(out)
    for relative in files:
        target = out / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(shipped_bytes(relative))


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
