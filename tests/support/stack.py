"""Local-stack pieces for tests: a host subprocess and a log queue that test apps write to."""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from azure.core.exceptions import ResourceExistsError
from azure.storage.queue import QueueClient

from emulators.azurite import free_port
from emulators.child_process import ChildFailed
from emulators.functions_host.launcher import FunctionsHostProcess
from tests.support.waiting import wait_for

REPO = Path(__file__).resolve().parents[2]


class LogQueue:
    """A plain-text queue that test functions append JSON records to; the test reads them back."""

    def __init__(self, connection_string: str, name: str) -> None:
        self.client = QueueClient.from_connection_string(connection_string, name)
        with contextlib.suppress(ResourceExistsError):
            self.client.create_queue()
        self.records: list[dict[str, Any]] = []

    def read(self) -> list[dict[str, Any]]:
        for message in self.client.receive_messages(messages_per_page=32, visibility_timeout=60):
            self.records.append(json.loads(message.content))
            self.client.delete_message(message)
        return self.records

    def wait_count(self, n: int, timeout: float = 30.0, **match: object) -> list[dict[str, Any]]:
        def enough() -> list[dict[str, Any]] | None:
            found = [r for r in self.read() if all(r.get(k) == v for k, v in match.items())]
            return found if len(found) >= n else None

        return wait_for(enough, timeout, f"{n} log records matching {match}")


@dataclass
class HostProcess:
    """`sitelens functions start` on a copy of a test app, as a real subprocess."""

    app_dir: Path
    port: int
    log_path: Path
    extra_args: list[str] = field(default_factory=list)
    launcher: FunctionsHostProcess | None = None

    @classmethod
    def prepare(
        cls,
        source: Path,
        dest: Path,
        values: dict[str, str],
        *,
        host_json: dict[str, Any] | None = None,
        keys: dict[str, Any] | None = None,
        extra_args: list[str] | None = None,
    ) -> HostProcess:
        shutil.copytree(source, dest)
        if host_json is not None:
            (dest / "host.json").write_text(json.dumps(host_json))
        settings = {"IsEncrypted": False, "Values": values, "Keys": keys or {"master": "test-master-key"}}
        (dest / "local.settings.json").write_text(json.dumps(settings))
        return cls(app_dir=dest, port=free_port(), log_path=dest / "host.log", extra_args=extra_args or [])

    @classmethod
    def prepare_repo_app(cls, dest: Path, values: dict[str, str], *, keys: dict[str, Any] | None = None) -> HostProcess:
        """The real app (function_app.py, host.json, shared/) in a folder of its own settings."""
        dest.mkdir(parents=True)
        for name in ("function_app.py", "host.json"):
            shutil.copy(REPO / name, dest / name)
        (dest / "shared").symlink_to(REPO / "shared")
        settings = {"IsEncrypted": False, "Values": values, "Keys": keys or {"master": "test-master-key"}}
        (dest / "local.settings.json").write_text(json.dumps(settings))
        return cls(app_dir=dest, port=free_port(), log_path=dest / "host.log")

    def start(self) -> HostProcess:
        self.launcher = FunctionsHostProcess(
            self.app_dir, self.port, self.log_path, cwd=REPO,
            extra_args=["--blob-scan-interval", "0.5", *self.extra_args],
        )  # fmt: skip
        try:
            self.launcher.start()
        except ChildFailed as exc:
            raise AssertionError(f"{exc}:\n{self.log_text()}") from exc
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int | None:
        return self.launcher.stop(sig, timeout) if self.launcher is not None else None
