"""What infra/package.py takes from the package folders: only what git tracks, so a stray secret, an editor's
swap file or a virtual environment next to the source is never shipped; outside a git checkout, only Python
and the named data files. Built for real in a scratch copy of the repository, never in the repository."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.support.git_checkout import hand_to_another_user, ls_files

REPO = Path(__file__).resolve().parents[3]
# What the two packages read: the app's top-level files, both package folders, and the builder itself.
INPUTS = ("function_app.py", "host.json", "requirements.txt", "constraints.txt", "openapi.json", "shared",
          "batch_tasks", "infra/package.py")  # fmt: skip
STRAYS = {
    "shared/.env": "AzureWebJobsStorage=DefaultEndpointsProtocol=https;AccountKey=c2VjcmV0\n",
    "shared/.config.py.swp": "swap\n",
    "shared/notes.txt": "not source\n",
    "batch_tasks/.venv/lib/python3.11/site-packages/leak.py": "KEY = 'secret'\n",
    "batch_tasks/venv.log": "pip output\n",
}


def tracked_inputs() -> list[str]:
    return [name for name in ls_files(REPO, "--", *INPUTS) if (REPO / name).is_file()]


def scratch_copy(root: Path, *, with_git: bool) -> Path:
    """The repository's tracked package inputs, copied; committed to a fresh index when `with_git`."""
    names = tracked_inputs()
    copy = root / "repo"
    for name in names:
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO / name, copy / name)
    if with_git:
        subprocess.run(["git", "init", "-q"], cwd=copy, check=True)
        subprocess.run(["git", "add", "-A"], cwd=copy, check=True)
    for name, text in STRAYS.items():
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        (copy / name).write_text(text)
    return copy


def build(copy: Path, kind: str, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-B", str(copy / "infra" / "package.py"), kind, str(out)],
                          check=True, capture_output=True, text=True, timeout=120)  # fmt: skip


def zipped(path: Path) -> list[str]:
    return sorted(zipfile.ZipFile(path).namelist())


def under(folder: str, names: list[str]) -> list[str]:
    return sorted(n for n in names if n.startswith(f"{folder}/"))


@pytest.mark.parametrize("with_git", [True, False], ids=["git checkout", "no git"])
def test_strays_beside_the_source_are_not_shipped(tmp_path: Path, with_git: bool) -> None:
    copy = scratch_copy(tmp_path, with_git=with_git)
    names = tracked_inputs()
    build(copy, "node", tmp_path / "node.zip")
    build(copy, "app", tmp_path / "app.zip")
    build(copy, "app-dir", tmp_path / "api")
    app, node = zipped(tmp_path / "app.zip"), zipped(tmp_path / "node.zip")
    for shipped in (app, node):
        assert not set(STRAYS) & set(shipped)
    assert node == under("batch_tasks", names)  # every tracked file of the node's folder, and nothing else
    # the app: its top-level files and shared/ as tracked (which node modules it adds, test_deploy checks)
    top_level = sorted(n for n in names if "/" not in n)
    assert [n for n in app if not n.startswith("batch_tasks/")] == sorted(top_level + under("shared", names))
    folder = sorted(p.relative_to(tmp_path / "api").as_posix() for p in (tmp_path / "api").rglob("*") if p.is_file())
    assert folder == app


def test_an_untracked_module_is_left_out_and_named(tmp_path: Path) -> None:
    copy = scratch_copy(tmp_path, with_git=True)
    (copy / "shared" / "forgotten.py").write_text("VALUE = 1\n")
    done = build(copy, "app", tmp_path / "app.zip")
    assert "shared/forgotten.py" not in zipped(tmp_path / "app.zip")
    assert "not tracked by git: shared/forgotten.py" in done.stderr


def test_another_users_checkout_ships_only_tracked_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A deploy run as root from a checkout someone else made: git must not refuse it, or the walk would ship
    # the untracked module.
    copy = scratch_copy(tmp_path, with_git=True)
    (copy / "shared" / "forgotten.py").write_text("VALUE = 1\n")
    hand_to_another_user(copy, monkeypatch)
    done = build(copy, "app", tmp_path / "app.zip")
    assert "shared/forgotten.py" not in zipped(tmp_path / "app.zip")
    assert "not tracked by git: shared/forgotten.py" in done.stderr


def test_a_rebuild_replaces_the_zip_whole_so_a_reader_keeps_what_it_opened(tmp_path: Path) -> None:
    """deploy.sh uploads the zip it just built; another build of the same file must never be seen half written."""
    copy = scratch_copy(tmp_path, with_git=True)
    out = tmp_path / "build" / "batch_tasks.zip"
    out.parent.mkdir()
    out.write_bytes(b"the previous build")
    with out.open("rb") as reader:  # an upload of the previous build, still reading it
        build(copy, "node", out)
        assert reader.read() == b"the previous build"
    assert zipped(out) == under("batch_tasks", tracked_inputs())
    assert [path.name for path in out.parent.iterdir()] == ["batch_tasks.zip"]  # no partial file left beside it
    assert out.stat().st_mode & 0o777 == 0o644
