"""Service state: pools, nodes, jobs and tasks as their REST documents, persisted on every change.

Documents are kept in the shape GET returns them (internal fields start with `_`), so what is stored is
the wire format. Ids are case-insensitive and case-preserving, as in Batch: keys are lower-cased,
documents keep the spelling. A change is saved before the request that made it is answered, and a killed
service restarts from its last complete save.

Two files, so that a save costs what changed rather than everything the service holds:

- `state.json`: pools, nodes and jobs, replaced atomically on each save (a few KB);
- `state.tasks.jsonl`: a line for each task whose document changed since its last line (every change renews
  its eTag), and a tombstone when it is deleted. Saving every task, or every task still queued, made each
  change cost the whole set: under a backlog of thousands of queued tasks that was most of the service's
  CPU. The journal is rewritten with one line per task on load and whenever it holds more than
  `COMPACT_RATIO` lines per task, so its size stays a small multiple of the tasks'.

On load the journal's last line for a task wins; a task whose job is gone is dropped. A `state.json` from
before the journal held the active tasks itself (and `state.completed.jsonl` the completed ones): both are
read once and folded into the journal.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

Doc = dict[str, Any]
TaskKey = tuple[str, str]  # (job key, task key), both lower-cased
COMPACT_RATIO, COMPACT_SLACK = 4, 1000  # rewrite the journal past 4 lines per task (and 1,000 lines)


@dataclass
class Store:
    path: Path
    pools: dict[str, Doc] = field(default_factory=dict)
    nodes: dict[str, list[Doc]] = field(default_factory=dict)  # by pool id (lower-cased)
    jobs: dict[str, Doc] = field(default_factory=dict)
    tasks: dict[str, dict[str, Doc]] = field(default_factory=dict)  # job id → task id → task (lower-cased)
    saved_clock: datetime | None = None  # emulated time at the last save
    clock: Callable[[], datetime] | None = field(default=None, repr=False)
    # Tasks in the journal, with the eTag their last line holds (every change to a document renews it).
    journaled: dict[TaskKey, str] = field(default_factory=dict, repr=False)
    _lines: int = field(default=0, repr=False)  # lines in the journal now

    @property
    def journal_path(self) -> Path:
        return self.path.with_name(self.path.stem + ".tasks.jsonl")

    @classmethod
    def load(cls, path: Path) -> Store:
        store = cls(path)
        older: dict[str, dict[str, Doc]] = {}
        if path.is_file():
            raw = json.loads(path.read_text())
            store.pools, store.nodes, store.jobs = raw["pools"], raw["nodes"], raw["jobs"]
            older = raw.get("tasks", {})  # the format before the journal: its active tasks
            if raw.get("clock"):
                store.saved_clock = datetime.fromisoformat(raw["clock"])
        tasks: dict[TaskKey, Doc] = {}
        for journal in (path.with_name(path.stem + ".completed.jsonl"), store.journal_path):
            tasks |= _replay(journal)
        tasks |= {(job, task): doc for job, docs in older.items() for task, doc in docs.items()}
        for (job, task), doc in tasks.items():
            if job in store.jobs:  # else the job is gone (deleted after its tasks were written)
                store.tasks.setdefault(job, {})[task] = doc
        store._compact()
        path.with_name(path.stem + ".completed.jsonl").unlink(missing_ok=True)
        return store

    def _compact(self) -> None:
        """Rewrite the journal with one line per task: no tombstones, superseded lines or a last line a kill cut
        short (the next append would have joined it)."""
        self.journaled = {(job, task): str(doc.get("eTag")) for job, docs in self.tasks.items()
                          for task, doc in docs.items()}  # fmt: skip
        tmp = self.journal_path.with_name(self.journal_path.name + ".tmp")
        tmp.write_text("".join(_line(job, task, self.tasks[job][task]) for job, task in self.journaled))
        tmp.replace(self.journal_path)
        self._lines = len(self.journaled)

    def save(self) -> None:
        # state.json first: a kill between the two leaves the tasks of a job just deleted in the journal, and
        # load drops tasks whose job is gone (a job and its first task are never created in one change).
        state: dict[str, Any] = {"pools": self.pools, "nodes": self.nodes, "jobs": self.jobs}
        if self.clock is not None:
            state["clock"] = self.clock().isoformat()
        tmp = self.path.with_name(self.path.name + ".tmp")
        # json.dumps, not json.dump: only the one-shot encoder is C; dump's chunked one is pure Python and
        # costs three times as much.
        tmp.write_text(json.dumps(state))
        tmp.replace(self.path)
        lines = self._journal_lines()
        if self._lines + len(lines) > COMPACT_RATIO * len(self.journaled) + COMPACT_SLACK:
            self._compact()
        elif lines:
            with self.journal_path.open("a") as journal:
                journal.write("".join(lines))
            self._lines += len(lines)

    def _journal_lines(self) -> list[str]:
        """Lines for tasks new or changed since their last line, and tombstones for journaled tasks now gone."""
        lines: list[str] = []
        for job, tasks in self.tasks.items():
            for task, doc in tasks.items():
                etag = str(doc.get("eTag"))
                if self.journaled.get((job, task)) != etag:
                    lines.append(_line(job, task, doc))
                    self.journaled[(job, task)] = etag
        if len(self.journaled) > sum(len(tasks) for tasks in self.tasks.values()):  # some task is gone
            for key in [k for k in self.journaled if k[1] not in self.tasks.get(k[0], {})]:
                del self.journaled[key]
                lines.append(_line(*key, None))
        return lines

    def job_tasks(self, job_id: str) -> dict[str, Doc]:
        return self.tasks.setdefault(job_id.lower(), {})

    def tasks_of_pool(self, pool_id: str) -> list[tuple[Doc, Doc]]:
        """(job, task) pairs for every task of every job bound to the pool."""
        pairs = []
        for key, job in self.jobs.items():
            if str(job.get("poolInfo", {}).get("poolId", "")).lower() == pool_id.lower():
                pairs += [(job, task) for task in self.tasks.get(key, {}).values()]
        return pairs


def _replay(journal: Path) -> dict[TaskKey, Doc]:
    tasks: dict[TaskKey, Doc] = {}
    if not journal.is_file():
        return tasks
    for line in journal.read_text().splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:  # a line cut short by a kill mid-append: its save never finished
            continue
        key = (entry["job"], entry["task"])
        if entry.get("doc") is None:
            tasks.pop(key, None)
        else:
            tasks[key] = entry["doc"]
    return tasks


def _line(job: str, task: str, doc: Doc | None) -> str:
    return json.dumps({"job": job, "task": task, "doc": doc}) + "\n"
