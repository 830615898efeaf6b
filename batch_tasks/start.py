"""The pool's start task: `python -m batch_tasks.start --supervisor systemd|detached`.

It launches the node server outside the start task's lifetime and working directory (Batch re-runs a
start task, e.g. after a reboot or a pool update, and must not find a service living in its folder), then
waits until the server reports ready with every warm model loaded, so Batch schedules tasks only onto warm
nodes that can serve.

- `systemd` (Azure): writes `/etc/systemd/system/sitelens-node.service` (restart on failure within a start
  limit, the start task's `SITELENS_*` environment) and enables it, so the server also comes back after a
  reboot or crash. The unit is written on every run, before anything else: a new package changes it (its
  `ExecStart` is the package's own venv), which restarts a server that systemd brought back at boot from the
  previous package onto this one.
- `detached` (local Batch service, or a node without systemd): starts the server under
  `batch_tasks.supervisor` (restart on exit, as the unit's `Restart=always`) in a session of its own, its
  log and pid file in `AZ_BATCH_NODE_SHARED_DIR`. A healthy server that is already running is left alone.

Either way a server found ready without a warm model (it failed past the server's own retries: storage not
answering at boot, say) is restarted once before the wait, so that Batch's re-run of the start task loads it anew.

Exit 0 once ready; 1 if the NVIDIA driver is too old for this package's CUDA runtime, if the server died or
kept restarting, did not become ready within `--timeout` seconds, or became ready without a warm model (the
server's log or journal tail is printed, and Batch marks the node `starttaskfailed`, which is right for a
node that cannot serve).
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from batch_tasks import protocol
from batch_tasks.node import nvidia
from batch_tasks.node.settings import NodeSettings, NodeSettingsError
from batch_tasks.node.shutdown import DRAIN_S
from batch_tasks.supervisor import GIVE_UP_AFTER, QUICK_EXIT_S, RESTART_S

UNIT_NAME = "sitelens-node.service"
UNIT_DIR = Path("/etc/systemd/system")
# The supervisor's rule in systemd's terms: GIVE_UP_AFTER starts within the time that many quick exits take.
# systemd's default (5 starts in 10 s) can never trip with a 2 s restart delay and a server that takes seconds
# to crash, so a broken server would restart forever.
START_LIMIT_INTERVAL_S = GIVE_UP_AFTER * (QUICK_EXIT_S + RESTART_S)
# How long a stopped server may take (its requests in flight, then unloading) before systemd kills it: written, not
# left to systemd's default (90 s), which a node image may change.
STOP_TIMEOUT_S = DRAIN_S + 30
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

# Why the server will not come up (its supervisor exited, systemd gave up on it), or None while it may.
Watch = Callable[[], str | None]


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


def missing_warm_models(report: dict[str, object], settings: NodeSettings) -> list[str]:
    """The warm models a ready server should serve and does not (they failed to load; the server logged why).
    Only the last `SITELENS_MODEL_CACHE` of them can be checked: the warm-up's later models evict earlier ones."""
    expected: list[str] = []
    for model_id in reversed(settings.warm_models):
        if model_id not in expected and len(expected) < settings.model_cache:
            expected.append(model_id)
    models = report.get("models")
    served = {m.get("id") for m in models if isinstance(m, dict)} if isinstance(models, list) else set()
    return [m for m in reversed(expected) if m not in served]


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
        f"StartLimitIntervalSec={START_LIMIT_INTERVAL_S:g}",
        f"StartLimitBurst={GIVE_UP_AFTER}",
        "",
        "[Service]",
        "Type=simple",
        f"ExecStart={shlex.join(server_command())}",
        f"WorkingDirectory={env.get('AZ_BATCH_NODE_SHARED_DIR', '/')}",
        *(f'Environment="{k}={v}"' for k, v in sorted(server_environment(env).items())),
        "Restart=always",
        f"RestartSec={RESTART_S:g}",
        f"TimeoutStopSec={STOP_TIMEOUT_S:g}",
        "LimitNOFILE=65536",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
        "",
    ]
    return "\n".join(lines)


def install_systemd(env: dict[str, str], unit_dir: Path | None = None) -> None:
    unit = (unit_dir or UNIT_DIR) / UNIT_NAME
    text = unit_text(env)
    changed = not unit.exists() or unit.read_text() != text
    if changed:
        unit.write_text(text)
        subprocess.run(["systemctl", "daemon-reload"], check=True)
    # A server that hit the start limit before this run (at boot, say) would refuse to start again.
    subprocess.run(["systemctl", "reset-failed", UNIT_NAME], check=False)
    subprocess.run(["systemctl", "enable", "--now", UNIT_NAME], check=True)
    if changed:
        subprocess.run(["systemctl", "restart", UNIT_NAME], check=True)


class UnitWatch:
    """systemd's view of the unit's server while it starts: failed (the start limit), or restarting again and
    again (a server that crashes only after loading for a while never trips the limit)."""

    def __init__(self) -> None:
        self._restarts_before: int | None = None

    def __call__(self) -> str | None:
        shown = subprocess.run(["systemctl", "show", "-p", "ActiveState,NRestarts", UNIT_NAME],
                               capture_output=True, text=True, check=False)  # fmt: skip
        state = dict(line.split("=", 1) for line in shown.stdout.splitlines() if "=" in line)
        restarts = int(state["NRestarts"]) if state.get("NRestarts", "").isdigit() else 0
        if self._restarts_before is None:
            self._restarts_before = restarts
        if state.get("ActiveState") == "failed":
            return f"systemd gave up on {UNIT_NAME} after {restarts} restarts (its start limit)"
        if restarts - self._restarts_before >= GIVE_UP_AFTER:
            return f"{UNIT_NAME} restarted {restarts - self._restarts_before} times while starting"
        return None


def to_restart(report: dict[str, object] | None, settings: NodeSettings) -> bool:
    """Whether the server that answered is ready without a warm model, and so is restarted (said on stdout)."""
    missing = missing_warm_models(report, settings) if report is not None and report.get("ready") else []
    if missing and report is not None:
        print(f"start: the node server (pid {report.get('pid')}) is ready without {', '.join(missing)}; restarting it")
    return bool(missing)


def stop_detached(settings: NodeSettings, report: dict[str, object]) -> None:
    """Stop the detached server that answered `report`, if the pid file names it (its supervisor then exits too: a
    stop, not a crash), waiting for its requests in flight as systemd would."""
    pid = _running_pid(settings)
    if pid is not None and report.get("pid") == pid:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)  # poll period while it stops


def watch_pid(pid: int) -> Watch:
    return lambda: None if alive(pid) else f"the server's supervisor (pid {pid}) exited"


def wait_ready(settings: NodeSettings, timeout: float, watch: Watch) -> str | None:
    """None once the server is ready with its warm models; else why it is not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        report = health(settings)
        if report and report.get("ready"):
            missing = missing_warm_models(report, settings)
            return f"warm models not served: {', '.join(missing)}" if missing else None
        gone = watch()
        if gone is not None:
            return gone
        time.sleep(0.5)  # poll period while the server loads and warms its models
    return f"not ready within {timeout:g} s"


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def server_log(supervisor: str, settings: NodeSettings) -> str:
    """The server's last lines: its log file when detached; under systemd its stderr is in the journal."""
    if supervisor == "detached":
        return _tail(settings.log_file)
    command = ["journalctl", "-u", UNIT_NAME, "-n", "30", "--no-pager"]
    try:
        shown = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"(no journal: {exc})"
    return shown.stdout.strip() or f"(no journal: {shown.stderr.strip() or 'empty'})"


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
    driver = nvidia.driver_problem(settings.provider, shutil.which("nvidia-smi"), nvidia.cuda_build())
    if driver is not None:
        print(f"start: {driver}", file=sys.stderr)
        return 1
    watch: Watch
    if args.supervisor == "systemd":
        install_systemd(dict(os.environ))  # first: a server systemd restored at boot may be an older package's
        if to_restart(health(settings), settings):
            subprocess.run(["systemctl", "restart", UNIT_NAME], check=True)
        watch = UnitWatch()
    else:
        report = health(settings)
        if report and report.get("ready") and not missing_warm_models(report, settings):
            print(f"start: the node server is already running and ready (pid {report.get('pid')})")
            return 0
        if report is not None and to_restart(report, settings):
            stop_detached(settings, report)  # then launched again below
        pid = _running_pid(settings)  # alive but not answering yet: a server still warming up
        if pid is None:
            pid = launch_detached(settings)
            print(f"start: launched the node server (pid {pid}), log {settings.log_file}")
        watch = watch_pid(pid)
    why = wait_ready(settings, args.timeout, watch)
    if why is None:
        print(f"start: ready: {health(settings)}")
        return 0
    log = server_log(args.supervisor, settings)
    print(f"start: the node server cannot serve ({why}); its log ends:\n{log}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
