"""The local stand-in for a pool's user-assigned managed identity, for resource files that name it.

In Azure a resource file with `identityReference` is downloaded by the node with a token of that identity,
which the pool carries, and storage authorises the identity by its roles. Locally there is no Entra ID:
the service is given the local stack's own storage credentials (a connection string, in the service's
environment as `SITELENS_BATCH_IDENTITY_STORAGE`) and reads the blob with them. That is the stand-in for
the identity, and it covers exactly one identity (`NODE_IDENTITY_ID`, which every pool of this service is
taken to carry, since the data plane cannot assign identities) and exactly that storage account.

A download that cannot be authorised fails as Azure's does, `BlobAccessDenied`: another identity, no
credentials configured, or a URL outside the configured account.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote

STORAGE_SETTING = "SITELENS_BATCH_IDENTITY_STORAGE"
# An ARM id of the same shape as Azure's (main.bicep's node identity); the local stack's app settings name it.
NODE_IDENTITY_ID = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/sitelens-local/providers/"
    "Microsoft.ManagedIdentity/userAssignedIdentities/id-sitelens-local-node"
)


class IdentityRefused(Exception):
    """The download cannot be authorised with the named identity."""


def resolve(
    reference: Mapping[str, Any], url: str, env: Mapping[str, str] | None = None, **client_options: Any
) -> tuple[Any, str, str]:
    """(the blob service client standing in for the identity, container, blob name) for `url`.

    Raises IdentityRefused when the identity is not the pool's, no credentials stand in for it, or `url`
    is not a blob of the account they belong to.
    """
    from azure.storage.blob import BlobServiceClient  # noqa: PLC0415 - slow to import; most tasks have no files

    resource_id = str(reference.get("resourceId") or "")
    if resource_id.lower() != NODE_IDENTITY_ID.lower():
        raise IdentityRefused(f"the identity {resource_id or '(none)'} is not assigned to the pool")
    connection = (os.environ if env is None else env).get(STORAGE_SETTING)
    if not connection:
        raise IdentityRefused(f"the identity {resource_id} has no access: the service has no {STORAGE_SETTING}")
    service = BlobServiceClient.from_connection_string(connection, **client_options)
    account = service.url.rstrip("/") + "/"
    address = url.split("?", 1)[0]
    if not address.startswith(account):
        raise IdentityRefused(f"the identity {resource_id} has no access to {address}")
    container, _, blob = address[len(account) :].partition("/")
    if not container or not blob:
        raise IdentityRefused(f"{address} is not a blob")
    return service, container, unquote(blob)


def download(reference: Mapping[str, Any], url: str, target: Path, retry_policy: Any) -> None:
    """Write the blob at `url` to `target`, read with the credentials standing in for the identity."""
    service, container, blob = resolve(reference, url, retry_policy=retry_policy)
    with target.open("wb") as out:
        service.get_blob_client(container, blob).download_blob().readinto(out)
