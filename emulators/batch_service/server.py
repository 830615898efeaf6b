"""Composition: state on disk, the clock, the engine and the HTTP front, until asked to stop."""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from aiohttp import web

from emulators.batch_service.app import Service
from emulators.batch_service.clock import Clock
from emulators.batch_service.engine import Engine
from emulators.batch_service.store import Store

log = logging.getLogger(__name__)
DEFAULT_ACCOUNT = "sitelenslocal"
DEFAULT_PORT = 8765
# Azure's default quota of active jobs and job schedules per Batch account (100 to 300 by region, up to 1,000
# on request): a client that keeps too many jobs active meets `ActiveJobAndScheduleQuotaReached` here too.
DEFAULT_ACTIVE_JOB_QUOTA = 100
KEY_FILE = "account.key"


@dataclass(frozen=True)
class ServiceOptions:
    data_dir: Path
    port: int = DEFAULT_PORT
    account: str = DEFAULT_ACCOUNT
    key: str | None = None
    time_scale: float = 1.0
    boot_delay: timedelta = timedelta(seconds=30)
    active_job_quota: int = DEFAULT_ACTIVE_JOB_QUOTA


def account_key(data_dir: Path, given: str | None = None) -> str:
    """The Shared Key: `given` (then kept), or the one kept in the data folder, or a new random one.

    The key file is created with mode 0600 from the start, so it is never readable by others.
    """
    path = data_dir / KEY_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    if given:
        base64.b64decode(given, validate=True)  # a key the SDK could not use is refused here, not later
        if not path.is_file() or path.read_text().strip() != given:
            _write_private(path, given)
        return given
    if not path.is_file():
        _write_private(path, base64.b64encode(secrets.token_bytes(64)).decode())
    return path.read_text().strip()


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    tmp.replace(path)


async def serve(options: ServiceOptions, stop: asyncio.Event) -> None:
    key = account_key(options.data_dir, options.key)
    url = f"http://127.0.0.1:{options.port}"
    store = Store.load(options.data_dir / "state.json")
    clock = Clock(options.time_scale, resume_from=store.saved_clock)
    store.clock = clock.now
    engine = Engine(
        store, options.data_dir, account=options.account, account_url=url, clock=clock, boot_delay=options.boot_delay
    )
    engine.recover()  # before the port opens: a client never sees the previous run's leftovers
    service = Service(store, options.account, key, url, engine, active_job_quota=options.active_job_quota)
    runner = web.AppRunner(service.application(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", options.port).start()
    log.info("Batch service for account %s at %s (time scale %g)", options.account, url, options.time_scale)
    loop = asyncio.create_task(engine.run(stop))
    await stop.wait()
    await runner.cleanup()
    await loop
    store.save()
