"""Storage connection strings for the local stack (Azurite's well-known development account)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from shared.config import DEV_ACCOUNT, dev_storage_connection_string, expand_connection_string

DEFAULT_PORTS = (10000, 10001, 10002)


class ConnectionNotFound(LookupError):
    """A binding's `connection` names no usable setting."""


@dataclass(frozen=True)
class AzuriteEndpoints:
    host: str = "127.0.0.1"
    blob_port: int = DEFAULT_PORTS[0]
    queue_port: int = DEFAULT_PORTS[1]
    table_port: int = DEFAULT_PORTS[2]

    def url(self, port: int) -> str:
        return f"http://{self.host}:{port}/{DEV_ACCOUNT}"

    @property
    def connection_string(self) -> str:
        return dev_storage_connection_string(self.host, (self.blob_port, self.queue_port, self.table_port))


def resolve(connection: str | None, settings: Mapping[str, str]) -> str:
    """Find the connection string a binding's `connection` property names, in the host's lookup order.

    Order: the exact setting, then `AzureWebJobs<Name>`; an empty name means `AzureWebJobsStorage`.
    Identity-based `<Name>__serviceUri` settings need Microsoft Entra ID, which the emulator lacks,
    so they are reported rather than silently ignored.
    """
    name = connection or "AzureWebJobsStorage"
    for candidate in (name, f"AzureWebJobs{name}"):
        value = settings.get(candidate)
        if value:
            return expand_connection_string(value)
    if any(k.startswith(f"{name}__") for k in settings):
        raise ConnectionNotFound(f"connection '{name}' is identity-based ({name}__*); locally give a connection string")
    raise ConnectionNotFound(f"no setting '{name}' (or 'AzureWebJobs{name}') holds a storage connection string")
