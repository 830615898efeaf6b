from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.stack import HostProcess, LogQueue

APPS = Path(__file__).parent / "apps"

pytestmark = pytest.mark.integration


@pytest.fixture
def log_queue(storage_connection: str, unique: str) -> LogQueue:
    return LogQueue(storage_connection, f"log-{unique}")


@pytest.fixture
def make_host(
    tmp_path: Path, storage_connection: str, log_queue: LogQueue, unique: str
) -> Iterator[Callable[..., HostProcess]]:
    """Build (not start) hosts for a test app; every host is stopped at the end of the test."""
    hosts: list[HostProcess] = []

    def make(app: str, values: dict[str, str] | None = None, **kwargs: Any) -> HostProcess:
        settings = {
            "AzureWebJobsStorage": storage_connection,
            "LOG_QUEUE": log_queue.client.queue_name,
            # one host id per test and app: restarts share receipts, other tests never do
            "AzureFunctionsWebHost__hostid": f"{app}-{unique}",
            **(values or {}),
        }
        host = HostProcess.prepare(APPS / app, tmp_path / f"{app}-{len(hosts)}", settings, **kwargs)
        hosts.append(host)
        return host

    yield make
    for host in hosts:
        host.stop()
