"""Composition: state on disk, the clock, the engine and the HTTP front, until asked to stop."""

from __future__ import annotations

import asyncio
import base64
import logging
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


@dataclass(frozen=True)
class ServiceOptions:
    data_dir: Path
    port: int = 8765
    account: str = DEFAULT_ACCOUNT
    key: str | None = None
    time_scale: float = 1.0
    boot_delay: timedelta = timedelta(seconds=30)


def account_key(data_dir: Path, given: str | None) -> str:
    """The Shared Key: given, or generated once per data folder and kept there (mode 0600)."""
    if given:
        return given
    path = data_dir / "account.key"
    if not path.is_file():
        path.write_text(base64.b64encode(secrets.token_bytes(64)).decode())
        path.chmod(0o600)
    return path.read_text().strip()


async def serve(options: ServiceOptions, stop: asyncio.Event) -> None:
    options.data_dir.mkdir(parents=True, exist_ok=True)
    key = account_key(options.data_dir, options.key)
    url = f"http://127.0.0.1:{options.port}"
    store = Store.load(options.data_dir / "state.json")
    engine = Engine(store, options.data_dir, options.account, Clock(options.time_scale), options.boot_delay)
    engine.recover()
    service = Service(store, options.account, key, url, engine)
    service.on_change = engine.wake
    runner = web.AppRunner(service.application(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", options.port).start()
    log.info("Batch service for account %s at %s (time scale %g)", options.account, url, options.time_scale)
    loop = asyncio.create_task(engine.run(stop))
    await stop.wait()
    await loop
    await runner.cleanup()
    store.save()
