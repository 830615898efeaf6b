"""The chaos run's fault schedule: processes killed with SIGKILL at seeded, jittered intervals.

Each kind has a mean interval; the next moment of each is drawn from the run's seed (uniform within ±50%
of the mean), so the sequence of kinds and gaps is the same for the same seed, while which task or node a
kill finds depends on what runs at that moment. Kinds:

- `host_kill`: the Functions host, started again at once (a platform restarting a crashed worker);
- `batch_kill`: the local Batch service, started again at once; it boots its nodes afresh;
- `node_kill`: one node server; the node's supervisor brings it back (batch_tasks/supervisor.py);
- `task_kill`: one running task client (`batch_tasks.task`), mid-request; Batch retries the task;
- `webhook_down`: the webhook receiver refuses connections for `down_s`.

Storage faults (the proxy), refused node writes and the receiver's 500s and timeouts are drawn per request
elsewhere (emulators/fault_proxy.py, sitelens/chaos_receiver.py); duplicates by the devices
(sitelens/chaos_devices.py).
"""

from __future__ import annotations

import logging
import os
import random
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from emulators.batch_service.processes import processes_under
from emulators.child_process import ChildFailed
from sitelens.chaos_receiver import ChaosReceiver
from sitelens.chaos_stack import ChaosStack

log = logging.getLogger("sitelens.chaos")
KINDS = ("host_kill", "batch_kill", "node_kill", "task_kill", "webhook_down")


@dataclass(frozen=True)
class Intervals:
    """Mean seconds between two faults of each kind."""

    # 70 s: at least a dozen of each kind in a 2,000-photo run of about 18 minutes on 2 cores (about 15 on
    # average), without more restarts than the run needs.
    host_kill: float = 70.0
    batch_kill: float = 70.0
    node_kill: float = 70.0
    task_kill: float = 15.0
    webhook_down: float = 70.0
    down_s: float = 1.5

    def scaled(self, factor: float) -> Intervals:
        return Intervals(self.host_kill * factor, self.batch_kill * factor, self.node_kill * factor,
                         self.task_kill * factor, self.webhook_down * factor, self.down_s)  # fmt: skip


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def node_processes(stack: ChaosStack, module: str) -> list[int]:
    """Pids on the stack's Batch nodes whose command line runs `python -m {module}`, sorted."""
    found = []
    for pid in processes_under(stack.state_dir / "batch"):
        line = _cmdline(pid)
        if f"-m {module}" in line and not line.startswith(("/bin/sh ", "sh ")):  # the Python, not its shell
            found.append(pid)
    return sorted(found)


@dataclass
class Injector:
    stack: ChaosStack
    receiver: ChaosReceiver
    seed: int
    intervals: Intervals = field(default_factory=Intervals)
    counts: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chaos-injector", daemon=True)

    def start(self) -> Injector:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(120)

    def _gap(self, kind: str) -> float:
        mean: float = getattr(self.intervals, kind)
        return mean * self._rng.uniform(0.5, 1.5)

    def _run(self) -> None:
        start = time.monotonic()
        due = {kind: start + self._gap(kind) for kind in KINDS}
        while not self._stop.is_set():
            kind = min(due, key=due.__getitem__)
            if self._stop.wait(max(0.0, due[kind] - time.monotonic())):  # the schedule's own clock
                return
            try:
                done = self._inject(kind)
            except (ChildFailed, OSError) as exc:  # a restart that failed is the run's failure, reported
                self.errors.append(f"{kind}: {exc}")
                log.error("chaos: %s failed: %s", kind, exc)
                done = False
            if done:
                self.counts[kind] += 1
            # Nothing to kill right now (no task running): try again soon rather than skip a whole gap.
            due[kind] = time.monotonic() + (self._gap(kind) if done else 1.0)

    def _inject(self, kind: str) -> bool:
        if kind == "host_kill":
            self.stack.restart_functions(signal.SIGKILL)
        elif kind == "batch_kill":
            self.stack.restart_batch(signal.SIGKILL)
        elif kind == "webhook_down":
            self.receiver.down(self.intervals.down_s)
        else:
            module = "batch_tasks.node.server" if kind == "node_kill" else "batch_tasks.task"
            pids = node_processes(self.stack, module)
            if not pids:
                return False
            try:
                os.kill(self._rng.choice(pids), signal.SIGKILL)
            except ProcessLookupError:
                return False
        log.info("chaos: %s", kind)
        return True
