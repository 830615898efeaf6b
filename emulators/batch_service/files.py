"""Resource files in (HTTP URLs, storage containers with SAS) and output files out (per upload condition)."""

from __future__ import annotations

import os
import shutil
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from azure.core.exceptions import AzureError
from azure.storage.blob import ContainerClient

_CONDITIONS = {"tasksuccess": (True,), "taskfailure": (False,), "taskcompletion": (True, False)}


class ResourceFileError(RuntimeError):
    """A resource file could not be downloaded (Batch: a pre-processing error)."""


def _inside(root: Path, relative: str) -> Path:
    target = (root / relative).resolve()
    if root.resolve() not in (target, *target.parents):
        raise ResourceFileError(f"filePath '{relative}' leaves the working directory")
    return target


def download_resources(resources: list[dict[str, Any]], wd: Path) -> None:
    for r in resources:
        try:
            if "httpUrl" in r:
                target = _inside(wd, r["filePath"])
                target.parent.mkdir(parents=True, exist_ok=True)
                with urllib.request.urlopen(r["httpUrl"], timeout=60) as response, target.open("wb") as out:
                    shutil.copyfileobj(response, out)
            elif "storageContainerUrl" in r:
                container = ContainerClient.from_container_url(r["storageContainerUrl"])
                base = _inside(wd, r.get("filePath", "."))
                for blob in container.list_blobs(name_starts_with=r.get("blobPrefix")):
                    target = _inside(base, blob.name)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(container.download_blob(blob.name).readall())
            else:
                raise ResourceFileError("only httpUrl and storageContainerUrl resource files are supported")
            if r.get("fileMode") and "httpUrl" in r:
                _inside(wd, r["filePath"]).chmod(int(r["fileMode"], 8))
        except (OSError, AzureError) as exc:
            raise ResourceFileError(f"{type(exc).__name__}: {exc}") from exc


def upload_outputs(outputs: list[dict[str, Any]], wd: Path, succeeded: bool, env: Mapping[str, str]) -> None:
    """Upload each output file whose condition matches this attempt's result; errors go to fileuploaderr.txt."""
    log = wd.parent / "fileuploaderr.txt"
    for spec in outputs:
        condition = spec.get("uploadOptions", {}).get("uploadCondition", "taskcompletion")
        if succeeded not in _CONDITIONS.get(condition, ()):
            continue
        pattern = os.path.expandvars(spec["filePattern"]) if "$" in spec["filePattern"] else spec["filePattern"]
        for name, value in env.items():
            pattern = pattern.replace(f"${name}", value).replace(f"%{name}%", value)
        destination = spec["destination"]["container"]
        container = ContainerClient.from_container_url(destination["containerUrl"])
        matched = sorted(p for p in wd.glob(pattern) if p.is_file())
        for path in matched:
            prefix = destination.get("path", "")
            single = len(matched) == 1 and not any(c in spec["filePattern"] for c in "*?[")
            blob = prefix if single and prefix else f"{prefix.rstrip('/')}/{path.relative_to(wd)}".lstrip("/")
            try:
                container.upload_blob(blob, path.read_bytes(), overwrite=True)
            except AzureError as exc:
                with log.open("a") as f:
                    f.write(f"{path}: {exc}\n")
