"""The node's storage adapter: results to the `results` container, completions to the `completions` queue,
model versions from the `models` container. The only module of the node that creates Azure SDK clients.

The node server owns these clients for every task on the node: SDK clients are created once, with the
node's identity (the pool's user-assigned managed identity in Azure; Azurite's connection string locally),
so a task costs no SDK import and no token fetch. Every SDK call runs inside `translated`, the node's one
mapping of SDK exceptions: `storage_transient` for what a retry may fix (timeouts, throttling, 5xx, I/O),
`storage_permanent` for the rest (auth, missing containers), `batch_tasks.errors` codes whose exit codes
differ, so Batch's retries are spent only on what can succeed.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from azure.core.exceptions import AzureError, ResourceExistsError
from azure.storage.blob import BlobServiceClient, ContentSettings
from azure.storage.queue import QueueClient, TextBase64EncodePolicy

from batch_tasks.artifacts import RESULTS, overlay_path, result_path
from batch_tasks.azure_retry import code_of, may_succeed_later, status_of, translating
from batch_tasks.errors import NodeError, UnknownModel, storage_error
from batch_tasks.models.manifest import parse
from batch_tasks.node.settings import StorageSettings

MODELS = "models"
COMPLETIONS = "completions"
_TIMEOUT_S = 30


class ResultStore(Protocol):
    def write_results(self, job_id: str, result_json: bytes, overlay_jpeg: bytes | None) -> tuple[str, bytes]: ...

    def post_completion(self, message: dict[str, Any]) -> None: ...


def translate(exc: AzureError, what: str) -> NodeError:
    """`storage_transient` when `batch_tasks.azure_retry` says a retry may fix it, else `storage_permanent`."""
    status = status_of(exc)
    answer = f"HTTP {status} {code_of(exc)}".rstrip() if status else type(exc).__name__
    return storage_error(f"{what}: {answer}", transient=may_succeed_later(exc))


def translated(what: str) -> contextlib.AbstractContextManager[None]:
    return translating(what, translate)


@dataclass
class AzureResultStore:
    blobs: BlobServiceClient
    completions: QueueClient

    @classmethod
    def from_settings(cls, s: StorageSettings) -> AzureResultStore:
        policy = TextBase64EncodePolicy()  # the Functions queue trigger expects base64 text
        if s.connection_string:
            return cls(
                BlobServiceClient.from_connection_string(s.connection_string),
                QueueClient.from_connection_string(s.connection_string, COMPLETIONS, message_encode_policy=policy),
            )
        if not (s.blob_url and s.queue_url):
            raise storage_error("no storage configured for results (see batch_tasks/node/settings.py)", transient=False)
        from azure.identity import ManagedIdentityCredential  # noqa: PLC0415 (Azure only; the import is not free)

        credential = ManagedIdentityCredential(client_id=s.client_id) if s.client_id else ManagedIdentityCredential()
        return cls(
            BlobServiceClient(s.blob_url, credential=credential),
            QueueClient(s.queue_url, COMPLETIONS, credential=credential, message_encode_policy=policy),
        )

    def write_results(self, job_id: str, result_json: bytes, overlay_jpeg: bytes | None) -> tuple[str, bytes]:
        """Write the job's artifacts once; returns the result's path and the bytes stored there.

        Batch can run a task again after an attempt that wrote its result and posted its completion but
        was killed before it exited; the job may already be SUCCEEDED with that result's checksum. So
        result.json is created only if absent, and a later attempt reports the stored bytes instead of its
        own: the result a job points at never changes under it. The overlay goes first, and only while no
        result exists, so a reader that finds the result finds its overlay. A create refused
        because the result exists reports the stored bytes too: two attempts racing on it (a requeued task
        whose first attempt still runs) leave one winner, and a write whose reply was lost meets its own blob
        when the SDK retries it (an error here would fail the task, and on its last attempt the job, with the
        result stored).
        """
        result = result_path(job_id)
        container = self.blobs.get_container_client(RESULTS)
        blob = container.get_blob_client(result)
        with translated(f"writing {RESULTS}/{result}"):
            if blob.exists(timeout=_TIMEOUT_S):
                return result, bytes(blob.download_blob(timeout=_TIMEOUT_S).readall())
            if overlay_jpeg is not None:
                container.upload_blob(
                    overlay_path(job_id), overlay_jpeg, overwrite=True, timeout=_TIMEOUT_S,
                    content_settings=ContentSettings(content_type="image/jpeg"),
                )  # fmt: skip
            try:
                blob.upload_blob(
                    result_json, overwrite=False, timeout=_TIMEOUT_S,
                    content_settings=ContentSettings(content_type="application/json"),
                )  # fmt: skip
            except ResourceExistsError:
                return result, bytes(blob.download_blob(timeout=_TIMEOUT_S).readall())
        return result, result_json

    def post_completion(self, message: dict[str, Any]) -> None:
        with translated(f"posting the completion of {message.get('job_id')}"):
            self.completions.send_message(json.dumps(message, separators=(",", ":")), timeout=_TIMEOUT_S)

    def download_model(self, name: str, version: str, dest: Path) -> None:
        """Copy the files `models/{name}/{version}/manifest.json` lists to `dest`, the manifest last (it is the
        folder's commit point). Other blobs under the version are left behind: only listed files are checked
        against their SHA-256, and a graph would load an unlisted file beside it (external weights) unchecked.

        Raises:
            UnknownModel when the registry's listing has no manifest for the version; a storage code when storage
            refused or did not answer (a missing role or container is not an unknown model).
        """
        container = self.blobs.get_container_client(MODELS)
        prefix = f"{name}/{version}/"
        with translated(f"downloading model {name}/{version}"):
            names = {b.name for b in container.list_blobs(name_starts_with=prefix)}
            if prefix + "manifest.json" not in names:  # the listing answered: no such version, on any node
                raise UnknownModel(f"model {name}/{version} is not in the registry")
            manifest = container.download_blob(prefix + "manifest.json", timeout=_TIMEOUT_S).readall()
            dest.mkdir(parents=True, exist_ok=True)
            for relative in _listed(manifest):
                if prefix + relative not in names:
                    continue  # the folder then fails its verification: model_unavailable
                with _written(dest / relative) as partial, partial.open("wb") as f:
                    container.download_blob(prefix + relative, timeout=_TIMEOUT_S).readinto(f)
            with _written(dest / "manifest.json") as partial:
                partial.write_bytes(manifest)


@contextlib.contextmanager
def _written(target: Path) -> Iterator[Path]:
    """A `.partial` file beside `target` to write, renamed onto it when the block ends well. A download cut off
    or a full disk leaves no half file behind (it would fill the disk further at each attempt)."""
    partial = target.with_name(target.name + ".partial")
    try:
        yield partial
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(target)


def _listed(manifest: bytes) -> list[str]:
    """The files a manifest lists (plain names: `manifest.parse` checks them); none when it does not parse, as the
    folder's verification then reports."""
    try:
        return [f.file for f in parse(json.loads(manifest)).files]
    except ValueError:  # not JSON, not UTF-8, or not a manifest
        return []
