"""The local stack as child processes: Azurite, the local Batch service (with the GPU pool) and the Functions host.

`Stack.start()` brings the children up in order, each behind a readiness condition, and writes their
endpoints and keys to `.local/stack.json` (mode 0600) for other tools (`sitelens upload`, tests). A start that
fails, whatever the reason, stops the children it had started before it raises.
`stop()` stops them in reverse order, letting the host finish running invocations, and removes the
`stack.json` this stack wrote (never one another stack of the same folder wrote).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueServiceClient

from batch_tasks.models.publish import plan
from emulators.azurite import Azurite, probe
from emulators.batch_service import launcher as batch_launcher
from emulators.batch_service.launcher import BatchServiceProcess
from emulators.batch_service.processes import kill_under
from emulators.child_process import READY_TIMEOUT_S, ChildFailed
from emulators.functions_host import launcher as host_launcher
from emulators.functions_host.launcher import FunctionsHostProcess
from emulators.storage_account import DEFAULT_PORTS
from shared.adapters.azure_photo_store import CONTAINERS
from sitelens import local_settings
from sitelens.local_pool import LocalPool
from sitelens.models_command import upload

QUEUES = ("completions", "notifications")
# Each child's log under `<state dir>/logs`, by the name `Stack.dead_child` gives it.
CHILD_LOGS = {"functions host": "functions.log", "batch service": "batch.log", "azurite": "azurite.log"}


def ensure_storage(connection: str) -> None:
    """The pipeline's containers and queues (in Azure the deployment creates them): devices can upload and
    nodes can post completions before the app has touched either."""
    blobs = BlobServiceClient.from_connection_string(connection)
    for name in CONTAINERS:
        with contextlib.suppress(ResourceExistsError):
            blobs.create_container(name)
    queues = QueueServiceClient.from_connection_string(connection)
    for name in QUEUES:
        with contextlib.suppress(ResourceExistsError):
            queues.create_queue(name)


# A killed service's port can still answer for a moment: a chaos run's Batch service restart once found it
# taken just after the kill, and the next restart 1.5 s later did not.
PORT_FREE_S = 10.0


def port_freed(port: int, within_s: float) -> bool:
    """Whether nothing answers on 127.0.0.1:`port`, waiting up to `within_s` for it to come free."""
    deadline = time.monotonic() + within_s
    while probe("127.0.0.1", port) is not None:
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)  # polling a condition with a deadline: nothing signals a port coming free
    return True


def _write_private(path: Path, text: str) -> None:
    """Write a file that holds keys: private (0600) from its creation, and whole when it appears, since tools and
    tests read it as soon as it exists. A temporary file in the same folder is renamed over it in one step."""
    temp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        temp.replace(path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


@dataclass
class Stack:
    repo: Path
    state_dir: Path
    azurite_ports: tuple[int, int, int] = DEFAULT_PORTS
    functions_port: int = 7071
    azurite: Azurite | None = None
    functions: FunctionsHostProcess | None = None
    batch_port: int = 8765
    # Emulated time runs 60x: a 5-minute autoscale interval takes 5 s and a node boots in 0.5 s, so a burst
    # scales the pool from zero within seconds, through the same formula and sampling rules as Azure.
    batch_time_scale: float = 60.0
    batch_boot_delay_s: float = 30.0  # emulated seconds, as a GPU node takes minutes in Azure
    batch: BatchServiceProcess | None = None
    keys: dict[str, Any] = field(default_factory=dict)
    # App settings on top of local.settings.json for this stack's host (tests shorten the reconciler's bounds).
    functions_env: dict[str, str] = field(default_factory=dict)
    # Azurite's debug log, which names every request's operation (emulators.request_counter reads it).
    azurite_debug_log: Path | None = None
    azurite_in_memory: bool = False  # nothing on disk: for a run that never restarts Azurite
    # The pool formula's knobs for this stack (infra/autoscale.formula), as Bicep's parameters set them.
    pool_knobs: dict[str, float] = field(default_factory=dict)
    # Node server settings for this stack's pool (batch_tasks/node/settings.py).
    node_env: dict[str, str] = field(default_factory=dict)
    # Set once this stack has written `stack.json`: only then is the file its own to remove.
    wrote_stack_file: bool = field(default=False, init=False, repr=False)

    @property
    def functions_url(self) -> str:
        return f"http://127.0.0.1:{self.functions_port}"

    @property
    def stack_file(self) -> Path:
        return self.state_dir / "stack.json"

    def log_file(self, child: str) -> Path:
        """The log of a child, by the name `dead_child` gives it."""
        return self.state_dir / "logs" / CHILD_LOGS[child]

    def start(self) -> Stack:
        (self.state_dir / "logs").mkdir(parents=True, exist_ok=True)
        settings = local_settings.ensure(self.repo)
        self.keys = settings["Keys"]
        try:
            self.azurite = Azurite.start(
                self.repo,
                self.state_dir / "azurite",
                self.azurite_ports,
                log_file=self.log_file("azurite"),
                debug_log=self.azurite_debug_log,
                in_memory=self.azurite_in_memory,
            )
            ensure_storage(self.azurite.connection_string)
            self._start_batch(self.log_file("batch service"))
            # The model registry: nodes load models from here when their own folder lacks a version.
            upload(plan(self.repo / "models" / "ocr" / "ppocrv4"), self.azurite.connection_string)
            self.pool().ensure(self.storage_connection())
            self._start_functions(self.log_file("functions host"))
            self._write_stack_file()
        except BaseException:  # a child that failed, the model missing, Ctrl-C: stop what is up, nothing detached
            self.stop()
            raise
        return self

    def _start_batch(self, log_file: Path) -> None:
        if probe("127.0.0.1", self.batch_port) is not None:
            raise ChildFailed(batch_launcher.NAME, f"port {self.batch_port} is taken; stop what runs there or pass "
                              "another --batch-port (make dev DEV_ARGS=\"--batch-port N\")")  # fmt: skip
        assert self.azurite is not None
        # The pools' node identity reads task inputs; locally the stack's own storage credentials stand in for it.
        batch = BatchServiceProcess(
            self.state_dir / "batch", self.batch_port, log_file,
            time_scale=self.batch_time_scale, boot_delay_s=self.batch_boot_delay_s, repo_root=self.repo,
            identity_storage=self.storage_connection(),
        )  # fmt: skip
        self.batch = batch.start()

    def storage_connection(self) -> str:
        """The connection string the app and the nodes use: Azurite's own here; the chaos run puts its
        fault proxy in between by overriding this."""
        assert self.azurite is not None
        return self.azurite.connection_string

    def restart_batch(self, sig: int = signal.SIGTERM) -> None:
        """Stop the Batch service with `sig` (SIGKILL: a crash) and start it again on the same port and data
        folder; it boots its nodes afresh, as after an outage. Azurite and the host keep running."""
        if self.batch is not None:
            self.batch.stop(sig)
        port_freed(self.batch_port, PORT_FREE_S)  # else the start below names what still answers there
        self._start_batch(self.log_file("batch service"))
        self._write_stack_file()

    def _start_functions(self, log_file: Path) -> None:
        assert self.azurite is not None
        if probe("127.0.0.1", self.functions_port) is not None:
            raise ChildFailed(host_launcher.NAME, f"port {self.functions_port} is taken; stop what runs there or "
                              "pass another --port (make dev DEV_ARGS=\"--port N\")")  # fmt: skip
        env = {**os.environ, "AzureWebJobsStorage": self.storage_connection()}
        if self.batch is not None:  # the app reaches Batch through the same SDK and settings as in Azure
            env.update(self.pool().app_settings(self.storage_connection()))
        env["SITELENS_TELEMETRY_DIR"] = str(self.telemetry_dir)
        env.update(self.functions_env)
        host = FunctionsHostProcess(self.repo, self.functions_port, log_file, env=env, cwd=self.repo)
        self.functions = host.start(READY_TIMEOUT_S)

    def restart_functions(self, sig: int = signal.SIGTERM, env: dict[str, str] | None = None) -> None:
        """Stop the Functions host with `sig` (SIGKILL: a crash, mid-invocation) and start it again, with
        `env` replacing this stack's extra app settings when given. Azurite and Batch keep running."""
        if self.functions is not None:
            self.functions.stop(sig)
        if env is not None:
            self.functions_env = dict(env)
        self._start_functions(self.log_file("functions host"))
        self._write_stack_file()

    def pool(self) -> LocalPool:
        assert self.batch is not None
        return LocalPool(self.batch.endpoint, self.batch.account_name, self.batch.account_key, self.repo,
                         knobs=self.pool_knobs, telemetry_dir=self.telemetry_dir, node_env=self.node_env)  # fmt: skip

    @property
    def telemetry_dir(self) -> Path:
        """Where every process of this stack writes its spans, metrics and logs (docs/telemetry.md#local)."""
        return self.state_dir / "telemetry"

    def _write_stack_file(self) -> None:
        assert self.azurite is not None
        e = self.azurite.endpoints
        doc = {
            "telemetry_dir": str(self.telemetry_dir),
            "storage": {
                "connection_string": self.azurite.connection_string,
                "blob": e.url(e.blob_port),
                "queue": e.url(e.queue_port),
                "table": e.url(e.table_port),
            },
            "functions": {
                "url": self.functions_url,
                "api": f"{self.functions_url}/api",
                "master_key": self.keys["master"],
                "host_key": self.keys["host"]["default"],
            },
            "batch": (
                {"endpoint": self.batch.endpoint, "account": self.batch.account_name, "key": self.batch.account_key}
                if self.batch
                else None
            ),
            "pids": {
                "azurite": self.azurite.pid,
                "functions": self.functions.pid if self.functions else None,
                "batch": self.batch.pid if self.batch else None,
            },
        }
        _write_private(self.stack_file, json.dumps(doc, indent=2) + "\n")
        self.wrote_stack_file = True

    def dead_child(self) -> str | None:
        """The name of a child that exited on its own, if any."""
        for name, child in (("functions host", self.functions), ("batch service", self.batch),
                            ("azurite", self.azurite)):  # fmt: skip
            if child is not None and not child.alive():
                return name
        return None

    def stop(self) -> None:
        if self.functions is not None:
            self.functions.stop()
        if self.batch is not None:
            self.batch.stop()
            # A service that died without stopping its nodes (a hangup's default action, a kill) leaves their
            # processes running in sessions of their own; none of them is wanted once the service is gone.
            kill_under(self.state_dir / "batch")
        if self.azurite is not None:
            self.azurite.stop()
        if self.wrote_stack_file:  # a failed start's stack.json may be the running stack's of this folder
            self.stack_file.unlink(missing_ok=True)
            self.wrote_stack_file = False
