"""The real function_app.py on the local Functions host over Azurite: one per test module, tables of its own.

Webhooks may target loopback (the stack's storage is loopback too), timers are all but switched off, and
the host key `host-key` opens every keyed route. The app folder holds openapi.json beside function_app.py,
as a deployment does, so `GET /api/openapi.json` is the app's own answer.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from emulators.azurite import Azurite
from tests.support.stack import REPO, HostProcess

KEY = "host-key"
KEYS = {"master": "test-master-key", "host": {"default": KEY}}
RARELY = "0 0 0 1 1 *"  # timers these tests do not exercise


@dataclass(frozen=True)
class AppHost:
    host: HostProcess
    connection: str  # Azurite's, for tests that read the tables behind the API
    unique: str  # the table prefix is f"t{unique}"


@pytest.fixture(scope="module")
def app_host(azurite: Azurite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppHost]:
    unique = uuid.uuid4().hex[:10]
    values = {
        "AzureWebJobsStorage": azurite.connection_string,
        "AzureFunctionsWebHost__hostid": f"api-{unique}",
        "SITELENS_TABLE_PREFIX": f"t{unique}",
        "SITELENS_WEBHOOKS_ALLOW_LOOPBACK": "true",
        "SITELENS_WEBHOOK_SWEEP_SCHEDULE": RARELY,
        "SITELENS_RECONCILE_SCHEDULE": RARELY,
        "SITELENS_RECORDS_EXPIRY_SCHEDULE": RARELY,
    }
    prepared = HostProcess.prepare_repo_app(tmp_path_factory.mktemp("api") / "app", values, keys=KEYS)
    shutil.copy(REPO / "openapi.json", prepared.app_dir / "openapi.json")
    host = prepared.start()
    try:
        yield AppHost(host, azurite.connection_string, unique)
    finally:
        host.stop()
