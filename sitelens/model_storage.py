"""Where `sitelens models publish|route|routes` find storage, and how a planned upload is carried out.

Two ways in: a connection string (`--connection-string`, else `AzureWebJobsStorage`, else the running local
stack's), or `--account-url https://ACCOUNT.blob.core.windows.net` signed in with Microsoft Entra ID
through `DefaultAzureCredential` (an `az login`, or a CI job's OIDC federation after `azure/login`), so a
pipeline needs no storage key. The identity needs "Storage Blob Data Contributor" on the `models` container.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
from pathlib import Path

from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobServiceClient, ContainerClient, ContentSettings

from batch_tasks.models.publish import CONTAINER, MANIFEST, Upload
from shared.adapters.azure_errors import translated
from shared.config import STORAGE, expand_connection_string
from shared.errors import NotFound

REPO = Path(__file__).resolve().parents[1]
NO_STORAGE = f"no storage: pass --account-url or --connection-string, set {STORAGE}, or run `sitelens dev`"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--connection-string", help=f"default: {STORAGE}, else the local stack's (.local/stack.json)")
    where.add_argument("--account-url", help="https://ACCOUNT.blob.core.windows.net, signed in with Entra ID")


def connection_string(given: str | None, environ: dict[str, str] | None = None) -> str | None:
    """`--connection-string`, else `AzureWebJobsStorage`, else the running local stack's, else None."""
    env = os.environ if environ is None else environ
    value = given or env.get(STORAGE)
    if value:
        return expand_connection_string(value)
    stack = REPO / ".local" / "stack.json"
    if stack.is_file():
        return str(json.loads(stack.read_text())["storage"]["connection_string"])
    return None


def blob_service(args: argparse.Namespace) -> BlobServiceClient | None:
    """The account the command's arguments name, or None when they name none."""
    if getattr(args, "account_url", None):
        from azure.identity import DefaultAzureCredential  # noqa: PLC0415 - only the Entra ID path needs it

        return BlobServiceClient(args.account_url, credential=DefaultAzureCredential())
    connection = connection_string(getattr(args, "connection_string", None))
    return BlobServiceClient.from_connection_string(connection) if connection else None


def models_container(service: BlobServiceClient) -> ContainerClient:
    """The `models` container, created when absent (locally; a deployment creates it)."""
    container = service.get_container_client(CONTAINER)
    if not container.exists():
        with contextlib.suppress(ResourceExistsError):  # another publisher created it first
            container.create_container()
    return container


class VersionPublished(ValueError):
    """The version is already published with another manifest (other files or settings)."""


def refuse_replacing(service: BlobServiceClient, uploads: list[Upload]) -> None:
    """Refuse to publish over a version stored with a different manifest: a node keeps a version it has
    downloaded, and a result is reused for a photo read before by the same model id, so one id must always
    mean one set of files. The same manifest (the same files, by their SHA-256) may be published again.

    Raises:
        VersionPublished: the version's stored manifest differs from the one to upload.
        SitelensError: storage refused or did not answer (`shared.adapters.azure_errors`).
    """
    manifest = next(u for u in uploads if u.blob.endswith("/" + MANIFEST))
    blob = service.get_container_client(CONTAINER).get_blob_client(manifest.blob)
    try:
        with translated(f"{CONTAINER}/{manifest.blob}"):
            stored = blob.download_blob().readall()
    except NotFound:  # the container or the version is not there yet
        return
    if _document(stored) != _document(manifest.path.read_bytes()):
        version = manifest.blob.removesuffix("/" + MANIFEST)
        raise VersionPublished(f"{version} is already published with a different manifest (version_published); "
                               "publish the change as a new version")  # fmt: skip


def _document(data: bytes) -> object:
    try:
        return json.loads(data)
    except ValueError:
        return None  # a stored manifest that is not JSON is never the one to publish


def upload_to(service: BlobServiceClient, uploads: list[Upload]) -> None:
    container = models_container(service)
    for item in uploads:  # in plan order: the manifest last
        with item.path.open("rb") as data:
            settings = ContentSettings(content_type=item.content_type)
            container.upload_blob(item.blob, data, overwrite=True, content_settings=settings)


def upload(uploads: list[Upload], connection: str) -> None:
    """Upload without `refuse_replacing`: the local stack seeds its own storage with the repository's model."""
    with BlobServiceClient.from_connection_string(connection) as service:
        upload_to(service, uploads)
