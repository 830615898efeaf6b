"""Start and stop Azurite from the project's `node_modules`, with a readiness check on a condition.

Azurite listens on loopback only, with telemetry disabled and its data under a folder of ours. A port
that is already taken is diagnosed (an Azurite left running, or some other program) instead of hanging.
Start, readiness and stop are `emulators.child_process`'s; a failure is its `ChildFailed`.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import socket
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from emulators.child_process import READY_TIMEOUT_S, ChildFailed, ChildProcess
from emulators.storage_account import DEFAULT_PORTS, AzuriteEndpoints

log = logging.getLogger(__name__)
NAME = "Azurite"


def free_ports(n: int) -> tuple[int, ...]:
    """`n` distinct loopback ports that nothing listens on now. Every socket stays bound until all `n` are read:
    a port is free again once its socket closes, and the next bind may be handed it, so ports taken one at a time
    can repeat (a stack given the same port twice cannot start)."""
    with contextlib.ExitStack() as bound:
        sockets = [bound.enter_context(socket.socket()) for _ in range(n)]
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return tuple(s.getsockname()[1] for s in sockets)


def free_port() -> int:
    """One free loopback port; for several used together, `free_ports`."""
    [port] = free_ports(1)
    return port


def probe(host: str, port: int) -> str | None:
    """What answers on a port: None (nothing), 'azurite', or a short description of something else."""
    conn = http.client.HTTPConnection(host, port, timeout=2)
    try:
        conn.request("GET", "/devstoreaccount1?comp=list")
        server = conn.getresponse().getheader("Server", "") or ""
    except ConnectionRefusedError:
        return None
    except OSError as exc:
        return f"a program that does not speak HTTP ({exc.__class__.__name__})"
    finally:
        conn.close()
    return "azurite" if "azurite" in server.lower() else f"an HTTP server ({server or 'no Server header'})"


@dataclass
class Azurite:
    """A running Azurite child process. Use as a context manager or call `stop()`."""

    data_dir: Path
    repo_root: Path
    endpoints: AzuriteEndpoints
    child: ChildProcess

    @classmethod
    def start(
        cls,
        repo_root: Path,
        data_dir: Path,
        ports: tuple[int, int, int] = DEFAULT_PORTS,
        *,
        log_file: Path | None = None,
        debug_log: Path | None = None,
        in_memory: bool = False,
    ) -> Azurite:
        """`in_memory`: keep nothing on disk (gone when Azurite stops). Saved to disk, Azurite writes its whole
        metadata database (every blob and entity) every 5 s, a cost that grows with what it holds: at some
        thousands of photos it was the largest share of Azurite's CPU."""
        entry = repo_root / "node_modules" / "azurite" / "dist" / "src" / "azurite.js"
        if not entry.is_file():
            raise ChildFailed(NAME, f"not installed ({entry} missing): run `make setup`")
        endpoints = AzuriteEndpoints(blob_port=ports[0], queue_port=ports[1], table_port=ports[2])
        for port in ports:
            found = probe(endpoints.host, port)
            if found == "azurite":
                raise ChildFailed(
                    NAME,
                    f"an Azurite is already listening on port {port} (left from an earlier run?); "
                    "stop it, or start the stack on other ports "
                    '(sitelens dev --azurite-ports A B C, or make dev DEV_ARGS="--azurite-ports A B C")',
                )
            if found:
                raise ChildFailed(NAME, f"port {port} is taken by {found}; free it or choose other ports")
        data_dir.mkdir(parents=True, exist_ok=True)
        args = ["node", str(entry), "--silent", "--disableTelemetry", "--skipApiVersionCheck", "--loose",
                *(["--inMemoryPersistence"] if in_memory else ["--location", str(data_dir)])]  # fmt: skip
        for service, port in zip(("blob", "queue", "table"), ports, strict=True):
            args += [f"--{service}Host", endpoints.host, f"--{service}Port", str(port)]
        if debug_log is not None:  # every request with its operation and status (emulators.request_counter)
            args += ["--debug", str(debug_log)]

        def ready() -> bool:
            return all(probe(endpoints.host, port) == "azurite" for port in ports)

        # A session of its own: Ctrl-C in a terminal reaches the stack, which stops Azurite last.
        child = ChildProcess(NAME, args, ready=ready, log_file=log_file, own_session=True, stop_timeout_s=10.0)
        child.start(READY_TIMEOUT_S)
        log.info("Azurite ready: blob %s", endpoints.url(endpoints.blob_port))
        return cls(data_dir=data_dir, repo_root=repo_root, endpoints=endpoints, child=child)

    @property
    def connection_string(self) -> str:
        return self.endpoints.connection_string

    @property
    def pid(self) -> int | None:
        return self.child.pid

    def alive(self) -> bool:
        return self.child.alive()

    def stop(self) -> None:
        self.child.stop()

    def __enter__(self) -> Azurite:
        return self

    def __exit__(self, *exc: object | TracebackType | None) -> None:
        self.stop()
