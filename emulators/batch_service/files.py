"""Resource files in (HTTP URLs, storage containers with SAS, blobs read as the pool's identity) and output
files out (per upload condition). A resource file with `identityReference` is read with the storage
credentials that stand in for the identity locally (identity.py).

Failures carry Batch's task failure codes: a download that fails is a pre-processing error (`BlobNotFound`,
`BlobAccessDenied`, `BlobDownloadTimedOut`, `BlobDownloadMiscError`), an upload that fails is
`FileUploadMiscError`; neither is retried. As on a node, each upload is logged to `fileuploadout.txt` or
`fileuploaderr.txt` in the task folder.

Output blob names: a pattern without wildcards uploads one file to `path` (or its own name); with
wildcards, each file goes below `path` under its name relative to the pattern's fixed leading folders
(`../std*.txt` → `path/stdout.txt`, `out/**/*.json` → `path/a/b.json` for `out/a/b.json`).
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from azure.core.exceptions import AzureError, ClientAuthenticationError, HttpResponseError, ResourceNotFoundError

from emulators.batch_service import identity

_CONDITIONS = {"tasksuccess": (True,), "taskfailure": (False,), "taskcompletion": (True, False)}
_VARIABLE = re.compile(r"\$(\w+)|\$\{(\w+)\}")
_WILDCARD = re.compile(r"[*?\[]")
_CONTENT_SETTINGS = {"content-type": "content_type", "content-encoding": "content_encoding",
                     "content-language": "content_language", "content-disposition": "content_disposition",
                     "cache-control": "cache_control"}  # fmt: skip
DEFAULT_FILE_MODE = "0770"  # Batch's default on Linux


class FileFailure(Exception):
    """A resource or output file failed: the task's failureInfo."""

    def __init__(self, category: str, code: str, message: str) -> None:
        super().__init__(message)
        self.category, self.code, self.message = category, code, message


def _inside(root: Path, relative: str) -> Path:
    target = (root / relative).resolve()
    if root.resolve() not in (target, *target.parents):
        raise FileFailure("usererror", "BlobDownloadMiscError", f"filePath '{relative}' leaves the working directory")
    return target


def _download_failure(exc: Exception, source: str) -> FileFailure:
    status = (
        getattr(exc, "code", None) if isinstance(exc, urllib.error.HTTPError) else getattr(exc, "status_code", None)
    )
    if status == 404 or isinstance(exc, ResourceNotFoundError):
        return FileFailure("usererror", "BlobNotFound", f"The resource file {source} does not exist")
    if status in (401, 403) or isinstance(exc, ClientAuthenticationError):
        return FileFailure("usererror", "BlobAccessDenied", f"Access to the resource file {source} was denied")
    if isinstance(exc, TimeoutError) or isinstance(getattr(exc, "reason", None), TimeoutError):
        return FileFailure("servererror", "BlobDownloadTimedOut", f"Downloading {source} timed out")
    return FileFailure("servererror", "BlobDownloadMiscError", f"Downloading {source} failed: {exc}")


def download_resources(resources: list[dict[str, Any]], wd: Path) -> None:
    for r in resources:
        source = _redacted(r.get("httpUrl") or r.get("storageContainerUrl") or r.get("autoStorageContainerName"))
        mode = int(str(r.get("fileMode") or DEFAULT_FILE_MODE), 8)
        try:
            if r.get("httpUrl"):
                target = _inside(wd, r["filePath"])
                target.parent.mkdir(parents=True, exist_ok=True)
                if r.get("identityReference"):
                    identity.download(r["identityReference"], r["httpUrl"], target, _retries())
                else:
                    with urllib.request.urlopen(r["httpUrl"], timeout=60) as response, target.open("wb") as out:
                        shutil.copyfileobj(response, out)
                target.chmod(mode)
            elif r.get("storageContainerUrl"):
                _download_container(
                    r["storageContainerUrl"], r.get("blobPrefix"), _inside(wd, r.get("filePath") or "."), mode
                )
            else:
                raise FileFailure(
                    "usererror", "BlobAccessDenied", "The local Batch service has no auto-storage account"
                )
        except identity.IdentityRefused as exc:
            raise FileFailure(
                "usererror", "BlobAccessDenied", f"Access to the resource file {source} was denied: {exc}"
            ) from exc
        except (OSError, AzureError) as exc:
            raise _download_failure(exc, source) from exc


def _download_container(url: str, prefix: str | None, base: Path, mode: int) -> None:
    from azure.storage.blob import ContainerClient  # noqa: PLC0415 - slow to import; most tasks have no files

    container = ContainerClient.from_container_url(url, retry_policy=_retries())
    for blob in container.list_blobs(name_starts_with=prefix):
        target = _inside(base, blob.name)
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("wb") as out:
            container.download_blob(blob.name).readinto(out)
        target.chmod(mode)


def _retries() -> Any:
    """Two quick retries: the storage SDK's default waits 15 s and more between attempts."""
    from azure.storage.blob import LinearRetry  # noqa: PLC0415 - as above

    return LinearRetry(backoff=1, random_jitter_range=0, retry_total=2)


def _redacted(url: object) -> str:
    return str(url).split("?", 1)[0]


def expand(pattern: str, env: Mapping[str, str]) -> str:
    """`$var` and `${var}` from the task's environment (Linux spelling); unknown names stay as written."""
    return _VARIABLE.sub(lambda m: env.get(m.group(1) or m.group(2), m.group(0)), pattern)


def matches(pattern: str, wd: Path) -> list[tuple[Path, str]]:
    """(file, name below the pattern's fixed leading folders) for each file `pattern` matches."""
    parts = pattern.split("/")
    fixed: list[str] = []
    for part in parts[:-1]:
        if _WILDCARD.search(part):
            break
        fixed.append(part)
    base = (wd / "/".join(fixed)) if fixed else wd  # an absolute pattern replaces wd
    found = []
    # glob.glob, not Path.glob: patterns may be absolute or climb out of wd (`../std*.txt`)
    for name in sorted(glob.glob(pattern, root_dir=wd, recursive=True)):  # noqa: PTH207
        path = wd / name
        if path.is_file():
            found.append((path, os.path.relpath(path, base)))
    return found


def blob_name(pattern: str, destination_path: str | None, relative: str) -> str:
    if not _WILDCARD.search(pattern):
        return destination_path or Path(relative).name
    prefix = (destination_path or "").strip("/")
    return f"{prefix}/{relative}" if prefix else relative


def upload_outputs(outputs: list[dict[str, Any]], wd: Path, exit_code: int | None, env: Mapping[str, str]) -> None:
    """Upload each output file whose condition holds for this exit code; raise FileFailure if any upload failed."""
    from azure.storage.blob import ContainerClient, ContentSettings  # noqa: PLC0415 - as above

    succeeded = exit_code == 0
    task_dir, errors = wd.parent, []
    for spec in outputs:
        condition = (spec.get("uploadOptions") or {}).get("uploadCondition", "taskcompletion")
        if succeeded not in _CONDITIONS.get(condition, ()):
            continue
        destination = spec["destination"]["container"]
        headers = {h["name"].lower(): h.get("value", "") for h in destination.get("uploadHeaders") or []}
        settings = ContentSettings(**{_CONTENT_SETTINGS[k]: v for k, v in headers.items() if k in _CONTENT_SETTINGS})
        container = ContainerClient.from_container_url(destination["containerUrl"], retry_policy=_retries())
        pattern = expand(spec["filePattern"], env)
        for path, relative in matches(pattern, wd):
            blob = blob_name(pattern, destination.get("path"), relative)
            try:
                with path.open("rb") as data:
                    container.upload_blob(blob, data, overwrite=True, content_settings=settings)
            except (OSError, AzureError) as exc:
                detail = exc.message if isinstance(exc, HttpResponseError) else str(exc)
                errors.append(f"{path} -> {blob}: {detail}")
            else:
                _log(task_dir / "fileuploadout.txt", f"uploaded {path} -> {blob}")
    if errors:
        for line in errors:
            _log(task_dir / "fileuploaderr.txt", line)
        raise FileFailure("usererror", "FileUploadMiscError", f"Uploading output files failed: {errors[0]}")


def _log(path: Path, line: str) -> None:
    with path.open("a") as f:
        f.write(line + "\n")
