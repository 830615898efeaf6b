"""The Batch service's store: a task is journaled when it changes, pools, nodes and jobs are saved whole, and
a restart reads back exactly what the last save held."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from emulators.batch_service import store as store_module
from emulators.batch_service.documents import set_state, touch
from emulators.batch_service.store import Store


def _store(tmp_path: Path, tasks: int) -> Store:
    store = Store(tmp_path / "state.json")
    store.jobs["j"] = {"id": "J"}
    store.tasks["j"] = {f"t{i}": touch({"id": f"T{i}", "state": "active"}) for i in range(tasks)}
    return store


def _completed(doc: dict[str, Any]) -> dict[str, Any]:
    set_state(doc, "completed")
    return doc


def _journal(store: Store) -> list[dict[str, Any]]:
    return [json.loads(line) for line in store.journal_path.read_text().splitlines()]


def test_a_task_is_written_when_it_changes_and_only_then_and_read_back(tmp_path):
    store = _store(tmp_path, 5)
    store.save()
    for i in range(3):
        set_state(store.tasks["j"][f"t{i}"], "completed")
    store.save()
    store.save()  # nothing changed: nothing appended
    assert "tasks" not in json.loads(store.path.read_text())  # a save no longer rewrites queued tasks
    assert [e["task"] for e in _journal(store)] == ["t0", "t1", "t2", "t3", "t4", "t0", "t1", "t2"]
    again = Store.load(store.path)
    assert again.tasks == store.tasks


def test_the_journal_is_compacted_so_it_stays_a_few_lines_per_task(tmp_path, monkeypatch):
    monkeypatch.setattr(store_module, "COMPACT_SLACK", 10)
    store = _store(tmp_path, 4)
    for _ in range(30):  # 120 changes of 4 tasks
        for task in store.tasks["j"].values():
            touch(task)
        store.save()
        assert len(_journal(store)) <= 4 * 4 + 10 + 4
    assert Store.load(store.path).tasks == store.tasks
    assert len(_journal(store)) == 4  # load compacts too


def test_a_state_from_before_the_journal_is_read_and_folded_in(tmp_path):
    old = _store(tmp_path, 2)
    done = _completed(old.tasks["j"].pop("t0"))
    state = {"pools": {}, "nodes": {}, "jobs": old.jobs, "tasks": {"j": old.tasks["j"]}}
    old.path.write_text(json.dumps(state))
    completed = tmp_path / "state.completed.jsonl"
    completed.write_text(json.dumps({"job": "j", "task": "t0", "doc": done}) + "\n")
    again = Store.load(old.path)
    assert {k: t["state"] for k, t in again.tasks["j"].items()} == {"t0": "completed", "t1": "active"}
    assert not completed.exists() and len(_journal(again)) == 2
    again.save()
    assert Store.load(old.path).tasks == again.tasks


def test_tasks_of_a_job_deleted_before_the_kill_do_not_come_back(tmp_path):
    store = _store(tmp_path, 2)
    store.save()
    saved = json.loads(store.path.read_text())
    store.path.write_text(json.dumps({**saved, "jobs": {}}))  # the save wrote state.json, then the kill came
    assert Store.load(store.path).tasks == {}


def test_a_completed_task_that_changes_is_journaled_again_and_the_last_line_wins(tmp_path):
    store = _store(tmp_path, 1)
    task = store.tasks["j"]["t0"]
    set_state(task, "completed")
    store.save()
    task["constraints"] = {"maxTaskRetryCount": 3}
    touch(task)
    store.save()
    assert len(_journal(store)) == 2  # completed, then changed
    assert Store.load(store.path).tasks["j"]["t0"]["constraints"] == {"maxTaskRetryCount": 3}


def test_deleted_tasks_and_jobs_do_not_come_back(tmp_path):
    store = _store(tmp_path, 2)
    for task in store.tasks["j"].values():
        set_state(task, "completed")
    store.jobs["k"] = {"id": "K"}
    store.tasks["k"] = {"u": _completed({"id": "U"})}
    store.save()
    del store.tasks["j"]["t0"]
    del store.jobs["k"], store.tasks["k"]
    store.save()
    again = Store.load(store.path)
    assert list(again.tasks) == ["j"] and list(again.tasks["j"]) == ["t1"]


def test_a_reactivated_task_is_read_from_the_state_not_the_journal(tmp_path):
    store = _store(tmp_path, 1)
    task = store.tasks["j"]["t0"]
    set_state(task, "completed")
    store.save()
    set_state(task, "active")
    store.save()
    assert Store.load(store.path).tasks["j"]["t0"]["state"] == "active"
    set_state(task, "completed")
    store.save()
    assert Store.load(store.path).tasks["j"]["t0"]["state"] == "completed"


def test_a_line_cut_short_by_a_kill_is_dropped_and_later_appends_still_read(tmp_path):
    store = _store(tmp_path, 2)
    set_state(store.tasks["j"]["t0"], "completed")
    store.save()
    with store.journal_path.open("a") as journal:
        journal.write('{"job": "j", "task": "t1", "doc": {"id": "T1", "sta')  # the kill came mid-append
    again = Store.load(store.path)
    assert again.tasks["j"]["t1"]["state"] == "active"  # the save that line belonged to never finished
    set_state(again.tasks["j"]["t1"], "completed")
    again.save()
    assert {t["state"] for t in Store.load(store.path).tasks["j"].values()} == {"completed"}
