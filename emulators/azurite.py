"""Start and stop Azurite from the project's `node_modules`, with a readiness check on a condition.

Azurite listens on loopback only, with telemetry disabled and its data under a folder of ours. A port
that is already taken is diagnosed (an Azurite left running, or some other program) instead of hanging.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from emulators.storage_account import DEFAULT_PORTS, AzuriteEndpoints

log = logging.getLogger(__name__)
READY_TIMEOUT_S = 60.0


class AzuriteError(RuntimeError):
    """Azurite could not be started; the message says why and what to do."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
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
    process: subprocess.Popen[bytes] | None = None

    @classmethod
    def start(
        cls,
        repo_root: Path,
        data_dir: Path,
        ports: tuple[int, int, int] = DEFAULT_PORTS,
        *,
        log_file: Path | None = None,
    ) -> Azurite:
        entry = repo_root / "node_modules" / "azurite" / "dist" / "src" / "azurite.js"
        if not entry.is_file():
            raise AzuriteError(f"Azurite is not installed ({entry} missing): run `make setup`")
        endpoints = AzuriteEndpoints(blob_port=ports[0], queue_port=ports[1], table_port=ports[2])
        for port in ports:
            found = probe(endpoints.host, port)
            if found == "azurite":
                raise AzuriteError(
                    f"an Azurite is already listening on port {port} (left from an earlier run?); "
                    "stop it, or start the stack on other ports"
                )
            if found:
                raise AzuriteError(f"port {port} is taken by {found}; free it or choose other ports")
        data_dir.mkdir(parents=True, exist_ok=True)
        args = [
            "node",
            str(entry),
            "--silent",
            "--disableTelemetry",
            "--skipApiVersionCheck",
            "--loose",
            "--location",
            str(data_dir),
            "--blobHost",
            endpoints.host,
            "--blobPort",
            str(ports[0]),
            "--queueHost",
            endpoints.host,
            "--queuePort",
            str(ports[1]),
            "--tableHost",
            endpoints.host,
            "--tablePort",
            str(ports[2]),
        ]
        out = log_file.open("ab") if log_file else subprocess.DEVNULL
        try:
            process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            if log_file:
                out.close()  # type: ignore[union-attr]
        azurite = cls(data_dir=data_dir, repo_root=repo_root, endpoints=endpoints, process=process)
        try:
            azurite.wait_ready()
        except BaseException:
            azurite.stop()
            raise
        return azurite

    def wait_ready(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        """Wait until all three services answer as Azurite, or the process dies, or time runs out."""
        assert self.process is not None
        deadline = time.monotonic() + timeout_s
        pending = [self.endpoints.blob_port, self.endpoints.queue_port, self.endpoints.table_port]
        while pending:
            if self.process.poll() is not None:
                raise AzuriteError(f"Azurite exited with code {self.process.returncode} before it was ready")
            if time.monotonic() > deadline:
                raise AzuriteError(f"Azurite did not answer on ports {pending} within {timeout_s:.0f} s")
            pending = [p for p in pending if probe(self.endpoints.host, p) != "azurite"]
            if pending:
                time.sleep(0.1)  # poll interval of the readiness condition, not a synchronisation sleep
        log.info("Azurite ready: blob %s", self.endpoints.url(self.endpoints.blob_port))

    @property
    def connection_string(self) -> str:
        return self.endpoints.connection_string

    def stop(self, timeout_s: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout_s)

    def __enter__(self) -> Azurite:
        return self

    def __exit__(self, *exc: object | TracebackType | None) -> None:
        self.stop()
