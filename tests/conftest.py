"""Shared fixtures. Azurite starts once per session, on free ports, only when a test asks for it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulators.azurite import Azurite, free_ports

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    data = tmp_path_factory.mktemp("azurite")
    blob_port, queue_port, table_port = free_ports(3)
    with Azurite.start(REPO, data, (blob_port, queue_port, table_port), log_file=data / "azurite.log") as az:
        yield az


@pytest.fixture
def storage_connection(azurite: Azurite) -> str:
    return azurite.connection_string


@pytest.fixture
def unique() -> str:
    """A short unique suffix, so tests sharing one Azurite never see each other's queues or containers."""
    return uuid.uuid4().hex[:10]
