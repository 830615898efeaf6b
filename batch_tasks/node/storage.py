"""The node's storage adapter: results to the `results` container, completions to the `completions` queue,
model versions from the `models` container. The only module in `batch_tasks` that imports an Azure SDK.

The node server owns these clients for every task on the node: SDK clients are created once, with the
node's identity (the pool's user-assigned managed identity in Azure; Azurite's connection string locally),
so a task costs no SDK import and no token fetch. SDK exceptions become `StorageError` with `transient`
set for what a retry may fix (timeouts, throttling, 5xx, I/O) and cleared for the rest (auth, missing
containers): a task exits with a distinct code for each, and Batch retries only what can succeed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.storage.blob import BlobServiceClient, ContentSettings
from azure.storage.queue import QueueClient, TextBase64EncodePolicy

from batch_tasks.artifacts import RESULTS, overlay_path, result_path
from batch_tasks.node.settings import StorageSettings

MODELS = "models"
COMPLETIONS = "completions"
_RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_TIMEOUT_S = 30


class StorageError(Exception):
    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


class ResultStore(Protocol):
    def write_results(self, job_id: str, result_json: bytes, overlay_jpeg: bytes | None) -> str: ...

    def post_completion(self, message: dict[str, Any]) -> None: ...


def _translate(exc: AzureError, what: str) -> StorageError:
    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        return StorageError(f"{what}: storage unreachable ({type(exc).__name__})", transient=True)
    if isinstance(exc, ClientAuthenticationError):
        return StorageError(f"{what}: not authorised", transient=False)
    if isinstance(exc, HttpResponseError):
        status = exc.status_code or 0
        code = getattr(exc, "error_code", "") or ""
        return StorageError(f"{what}: HTTP {status} {code}".rstrip(), transient=status in _RETRYABLE_STATUS)
    return StorageError(f"{what}: {type(exc).__name__}", transient=True)


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
            raise StorageError("no storage configured for results (see batch_tasks/node/settings.py)", transient=False)
        from azure.identity import ManagedIdentityCredential  # noqa: PLC0415 (Azure only; the import is not free)

        credential = ManagedIdentityCredential(client_id=s.client_id) if s.client_id else ManagedIdentityCredential()
        return cls(
            BlobServiceClient(s.blob_url, credential=credential),
            QueueClient(s.queue_url, COMPLETIONS, credential=credential, message_encode_policy=policy),
        )

    def write_results(self, job_id: str, result_json: bytes, overlay_jpeg: bytes | None) -> str:
        """Upload the overlay first and result.json last: a reader that finds the result finds its overlay.
        The paths are fixed per job (`batch_tasks.artifacts`), so a re-run overwrites: safe to repeat."""
        result = result_path(job_id)
        container = self.blobs.get_container_client(RESULTS)
        try:
            if overlay_jpeg is not None:
                container.upload_blob(
                    overlay_path(job_id), overlay_jpeg, overwrite=True, timeout=_TIMEOUT_S,
                    content_settings=ContentSettings(content_type="image/jpeg"),
                )  # fmt: skip
            container.upload_blob(
                result, result_json, overwrite=True, timeout=_TIMEOUT_S,
                content_settings=ContentSettings(content_type="application/json"),
            )  # fmt: skip
        except AzureError as exc:
            raise _translate(exc, f"writing {RESULTS}/{result}") from exc
        return result

    def post_completion(self, message: dict[str, Any]) -> None:
        try:
            self.completions.send_message(json.dumps(message, separators=(",", ":")), timeout=_TIMEOUT_S)
        except AzureError as exc:
            raise _translate(exc, f"posting the completion of {message.get('job_id')}") from exc

    def download_model(self, name: str, version: str, dest: Path) -> None:
        """Copy `models/{name}/{version}/*` to `dest`, the manifest last (it is the folder's commit point)."""
        container = self.blobs.get_container_client(MODELS)
        prefix = f"{name}/{version}/"
        try:
            names = [b.name for b in container.list_blobs(name_starts_with=prefix)]
            if prefix + "manifest.json" not in names:
                raise StorageError(f"model {name}/{version} is not in the registry", transient=False)
            dest.mkdir(parents=True, exist_ok=True)
            for blob in sorted(names, key=lambda n: n.endswith("/manifest.json")):
                relative = blob[len(prefix) :]
                if "/" in relative:
                    continue  # a model folder is flat
                partial = dest / (relative + ".partial")
                with partial.open("wb") as f:
                    container.download_blob(blob, timeout=_TIMEOUT_S).readinto(f)
                partial.replace(dest / relative)
        except AzureError as exc:
            raise _translate(exc, f"downloading model {name}/{version}") from exc
