"""The pool's start task: `python -m batch_tasks.start --supervisor systemd|detached`.

It launches the node server outside the start task's lifetime and working directory (Batch re-runs a
start task, e.g. after a reboot or a pool update, and must not find a service living in its folder), then
waits until the server reports ready, so Batch schedules tasks only onto warm nodes. It is idempotent: a
healthy server that is already running is left alone.

- `systemd` (Azure): writes `/etc/systemd/system/sitelens-node.service` (restart on failure, the start
  task's `SITELENS_*` environment) and enables it, so the server also comes back after a reboot or crash;
  a changed unit restarts it.
- `detached` (local Batch service, or a node without systemd): starts the server under
  `batch_tasks.supervisor` (restart on exit, as the unit's `Restart=always`) in a session of its own, its
  log and pid file in `AZ_BATCH_NODE_SHARED_DIR`.

Exit 0 once ready; 1 if the server died or did not become ready within `--timeout` seconds (the log's
tail is printed, and Batch marks the node `starttaskfailed`, which is right for a node that cannot serve).
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

from batch_tasks import protocol
from batch_tasks.node.settings import NodeSettings, NodeSettingsError

UNIT_NAME = "sitelens-node.service"
UNIT_DIR = Path("/etc/systemd/system")
_PASSED = (
    "AZ_BATCH_NODE_SHARED_DIR",
    "AZ_BATCH_NODE_ROOT_DIR",
    "PATH",
    "HOME",
    "LANG",
    "PYTHONPATH",
    "LD_LIBRARY_PATH",
    # telemetry (docs/telemetry.md): where to export, and the sampler
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
)


def server_command() -> list[str]:
    return [sys.executable, "-m", "batch_tasks.node.server"]


def supervisor_command() -> list[str]:
    """Without systemd the server would stay dead after a crash; the supervisor restarts it."""
    return [sys.executable, "-m", "batch_tasks.supervisor"]


def server_environment(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k.startswith("SITELENS_") or k in _PASSED}


def health(settings: NodeSettings, timeout: float = 2.0) -> dict[str, object] | None:
    try:
        return protocol.call(settings.socket, {"op": "health"}, timeout)
    except (OSError, protocol.ProtocolError):
        return None


def alive(pid: int) -> bool:
    """Running, and not a zombie (a container without an init process may never reap a killed server)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True  # no /proc: trust the signal


def _running_pid(settings: NodeSettings) -> int | None:
    try:
        pid = int(settings.pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if alive(pid) else None


def launch_detached(settings: NodeSettings) -> int:
    """Start the server's supervisor in its own session (cwd the shared dir, never the start task's folder);
    returns the supervisor's pid, which lives as long as the server is worth waiting for."""
    settings.shared_dir.mkdir(parents=True, exist_ok=True)
    with settings.log_file.open("ab") as log:
        process = subprocess.Popen(
            supervisor_command(), cwd=settings.shared_dir, env=server_environment(dict(os.environ)),
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
        )  # fmt: skip
    return process.pid


def unit_text(env: dict[str, str]) -> str:
    lines = [
        "[Unit]",
        "Description=sitelens node-local inference server",
        "After=network-online.target",
        "",
        "[Service]",
        "Type=simple",
        f"ExecStart={shlex.join(server_command())}",
        f"WorkingDirectory={env.get('AZ_BATCH_NODE_SHARED_DIR', '/')}",
        *(f'Environment="{k}={v}"' for k, v in sorted(server_environment(env).items())),
        "Restart=always",
        "RestartSec=2",
        "LimitNOFILE=65536",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
        "",
    ]
    return "\n".join(lines)


def install_systemd(env: dict[str, str], unit_dir: Path = UNIT_DIR) -> None:
    unit = unit_dir / UNIT_NAME
    text = unit_text(env)
    changed = not unit.exists() or unit.read_text() != text
    if changed:
        unit.write_text(text)
        subprocess.run(["systemctl", "daemon-reload"], check=True)
    subprocess.run(["systemctl", "enable", "--now", UNIT_NAME], check=True)
    if changed:
        subprocess.run(["systemctl", "restart", UNIT_NAME], check=True)


def wait_ready(settings: NodeSettings, timeout: float, pid: int | None) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        report = health(settings)
        if report and report.get("ready"):
            return True
        if pid is not None and not alive(pid):
            return False
        time.sleep(0.5)  # poll period while the server loads and warms its models
    return False


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m batch_tasks.start", description="start the node server")
    p.add_argument("--supervisor", choices=["systemd", "detached"], default="systemd")
    p.add_argument("--timeout", type=float, default=float(os.environ.get("SITELENS_START_TIMEOUT_S", "600")))
    args = p.parse_args(argv)
    try:
        settings = NodeSettings.from_env()
    except NodeSettingsError as exc:
        print(f"start: {exc}", file=sys.stderr)
        return 2
    report = health(settings)
    if report and report.get("ready"):
        print(f"start: the node server is already running and ready (pid {report.get('pid')})")
        return 0
    pid: int | None = None
    if args.supervisor == "systemd":
        install_systemd(dict(os.environ))
    else:
        pid = _running_pid(settings)  # alive but not answering yet: a server still warming up
        if pid is None:
            pid = launch_detached(settings)
            print(f"start: launched the node server (pid {pid}), log {settings.log_file}")
    if wait_ready(settings, args.timeout, pid):
        print(f"start: ready: {health(settings)}")
        return 0
    print(f"start: the node server did not become ready; its log ends:\n{_tail(settings.log_file)}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
