"""The host: index an app folder, start a listener per trigger and the HTTP front, stop cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from emulators.functions_host.blob_trigger import HOSTS_CONTAINER, POISON_QUEUE, BlobTriggers, trigger_queue_name
from emulators.functions_host.config import (
    DEFAULT_HTTP_PORT,
    HOST_ID_SETTING,
    HostConfig,
    LocalSettings,
    load_host_json,
    load_local_settings,
)
from emulators.functions_host.http_server import HttpFront
from emulators.functions_host.index import SCRIPT_FILE_SETTING, FunctionSpec, index_app, load_app
from emulators.functions_host.invoker import Invoker
from emulators.functions_host.queue_listener import QueueListener
from emulators.functions_host.queue_trigger import build_listener, queue_name_of
from emulators.functions_host.storage import StorageClients
from emulators.functions_host.timer_trigger import TimerRunner
from emulators.functions_host.tracing import InvocationTracing

log = logging.getLogger(__name__)


def worker_threads(environ: Mapping[str, str]) -> int:
    """The sync invocation pool's size as the Python worker sizes it: `PYTHON_THREADPOOL_THREAD_COUNT` from
    its environment (app settings, or `Values` in local.settings.json), else min(32, CPUs + 4)."""
    return int(environ.get("PYTHON_THREADPOOL_THREAD_COUNT") or 0) or min(32, (os.cpu_count() or 1) + 4)


@dataclass(frozen=True)
class HostOptions:
    app_dir: Path
    port: int | None = None
    max_concurrency: int | None = None
    shutdown_timeout_s: float = 30.0
    # Azure scans every 10 s and also reads analytics logs; Azurite has no logs, so scan more often.
    blob_scan_interval_s: float = 2.0
    enforce_keys: bool | None = None
    emulate_event_grid: bool = True


def derive_host_id(app_dir: Path) -> str:
    return (re.sub(r"[^a-z0-9-]", "", app_dir.resolve().name.lower()) or "functions")[:32].strip("-")


class FunctionsHost:
    def __init__(self, options: HostOptions) -> None:
        self.options = options
        self.app_dir = options.app_dir.resolve()
        self.config: HostConfig = load_host_json(self.app_dir / "host.json")
        self.local: LocalSettings = load_local_settings(self.app_dir / "local.settings.json", os.environ)
        self.port = options.port or self.local.http_port or DEFAULT_HTTP_PORT
        self.host_id = self.local.values.get(HOST_ID_SETTING) or derive_host_id(self.app_dir)
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._listeners: list[QueueListener] = []
        self._runner: web.AppRunner | None = None
        self.specs: list[FunctionSpec] = []

    async def start(self) -> None:
        # Core Tools hands `Values` to the worker as environment variables; the app reads them there.
        os.environ.update(self.local.values)
        app = load_app(self.app_dir, self.local.values.get(SCRIPT_FILE_SETTING, "function_app.py"))
        self.specs = index_app(app)
        settings = dict(self.local.values)
        self.storage = StorageClients(settings, self.config.queues.message_encoding)
        threads = worker_threads(os.environ)
        self.invoker = Invoker(
            self.app_dir,
            settings,
            self.storage,
            max_concurrency=self.options.max_concurrency or threads,
            function_timeout=self.config.function_timeout,
            tracing=InvocationTracing(self.config.raw, settings),
        )
        by_type: dict[str, list[FunctionSpec]] = {}
        for spec in self.specs:
            by_type.setdefault(spec.trigger.type, []).append(spec)
        watched: dict[str, QueueListener] = {}
        for spec in by_type.get("queueTrigger", []):
            listener = build_listener(spec, settings, self.storage, self.config.queues, self.invoker)
            watched[queue_name_of(spec, settings)] = listener
        blob_triggers = self._start_blob_triggers(by_type.get("blobTrigger", []), settings, watched)
        self._listeners = list(watched.values())

        def wake(queue_name: str) -> None:  # the shared queue watcher: an enqueue or a poison move by this host
            if queue_name in watched:
                watched[queue_name].notify()

        self.storage.on_enqueue = wake
        for listener in self._listeners:
            listener.on_poisoned = wake
        self._tasks += [asyncio.create_task(listener.run()) for listener in self._listeners]
        hosts = self.storage.blob_service(None).get_container_client(HOSTS_CONTAINER)
        for spec in by_type.get("timerTrigger", []):
            self._tasks.append(
                asyncio.create_task(TimerRunner(spec, self.invoker, hosts, self.host_id, settings).run(self._stop))
            )
        front = HttpFront(
            by_type.get("httpTrigger", []),
            self.invoker,
            self.local.keys,
            route_prefix=self.config.route_prefix,
            enforce_keys=self.local.enforce_keys if self.options.enforce_keys is None else self.options.enforce_keys,
            blob_triggers=blob_triggers,
            openapi_file=self.app_dir / "openapi.json",
            custom_headers=self.config.raw.get("extensions", {}).get("http", {}).get("customHeaders"),
        )
        self._runner = web.AppRunner(front.application(), access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        self._announce(by_type)

    def _start_blob_triggers(
        self, specs: list[FunctionSpec], settings: dict[str, str], watched: dict[str, QueueListener]
    ) -> BlobTriggers | None:
        if not specs:
            return None
        triggers = BlobTriggers(specs, settings, self.storage, self.host_id)
        name = trigger_queue_name(self.host_id)

        async def handle(delivery):  # type: ignore[no-untyped-def]
            await triggers.handle(self.invoker, delivery)

        watched[name] = QueueListener(
            self.storage.raw_queue(None, name),
            self.storage.raw_queue(None, POISON_QUEUE),
            self.config.blob_queue,
            handle,
        )
        scanned = [s for s in specs if s.trigger.get("source") != "EventGrid" or self.options.emulate_event_grid]
        if scanned:
            scanner = BlobTriggers(scanned, settings, self.storage, self.host_id)
            self._tasks.append(asyncio.create_task(scanner.run_scanner(self.options.blob_scan_interval_s, self._stop)))
        return triggers

    def _announce(self, by_type: dict[str, list[FunctionSpec]]) -> None:
        log.info("Functions host %s (app %s) listening on http://127.0.0.1:%d", self.host_id, self.app_dir, self.port)
        for spec in self.specs:
            if spec.trigger.type == "httpTrigger":
                route = spec.trigger.get("route") or spec.name
                prefix = f"/{self.config.route_prefix}" if self.config.route_prefix else ""
                log.info(
                    "  %s: [%s] http://127.0.0.1:%d%s/%s",
                    spec.name,
                    ",".join(spec.trigger.get("methods") or ["*"]),
                    self.port,
                    prefix,
                    route,
                )
            else:
                log.info("  %s: %s", spec.name, spec.trigger.type)
        log.info("Host started")

    def request_stop(self) -> None:
        self._stop.set()
        for listener in self._listeners:
            listener.stop()

    async def wait_stopped(self) -> None:
        await self._stop.wait()

    async def stop(self) -> None:
        """Stop taking work, wait for running invocations up to the deadline, then close everything."""
        self.request_stop()
        if self._runner is not None:
            await self._runner.shutdown()
        drains = [listener.drain() for listener in self._listeners]
        try:
            await asyncio.wait_for(
                asyncio.gather(*drains, *self._tasks, return_exceptions=True), self.options.shutdown_timeout_s
            )
        except TimeoutError:
            log.warning(
                "shutdown deadline of %.0f s passed with invocations still running", self.options.shutdown_timeout_s
            )
        for task in self._tasks:
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
        with contextlib.suppress(Exception):
            await self.storage.close()
        self.invoker.close()
        log.info("Host stopped")
