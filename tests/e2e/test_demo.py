"""`sitelens demo` (what `make demo` runs) from a user's seat: a real subprocess, its output, its report."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from sitelens import field_photos

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
PHOTOS = 3


def test_demo_runs_the_main_job_end_to_end_and_cleans_up(tmp_path):
    report_file = tmp_path / "demo.json"
    done = subprocess.run(
        [sys.executable, "-m", "sitelens", "demo", "--photos", str(PHOTOS), "--report", str(report_file)],
        cwd=REPO, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert done.stdout.rstrip().endswith("demo: OK")
    waterfall = done.stdout.split("7. The trace of ", 1)[1]  # one photo's trace, upload to webhook
    assert all(f" {span} " in waterfall for span in ("upload", "ingest", "node.job", "webhook.deliver")), waterfall
    report = json.loads(report_file.read_text())
    assert report["ok"] is True and report["problems"] == []

    items = {i["photo"]: i for i in report["items"]}
    photos = [i for i in report["items"] if i["kind"] == "photo"]
    assert len(photos) == PHOTOS and len(items) == PHOTOS + 1 + len(field_photos.bad_files())
    drawn = {f"{p.name}.jpg": [line.text for line in p.lines] for p in field_photos.photo_set(PHOTOS, seed=7)}
    for photo in photos:
        assert photo["state"] == "SUCCEEDED"
        assert photo["expected_text"] == drawn[photo["photo"]]
        assert photo["lines_read"] >= 1, photo  # the OCR read the text drawn on it
    assert sum(p["lines_read"] for p in photos) >= 0.7 * sum(len(p["expected_text"]) for p in photos)
    # The same bytes twice: one GPU task; whichever upload the trigger saw second completes from the cache.
    [copy] = [i for i in report["items"] if i["kind"] == "copy"]
    original = items[copy["copy_of"]]
    assert copy["state"] == "SUCCEEDED" and copy["text"] == original["text"]
    assert copy["job_id"] != original["job_id"] and {copy["cached"], original["cached"]} == {True, False}
    assert [i["cached"] for i in photos if i is not original] == [False] * (PHOTOS - 1)
    for name, (_data, reason) in field_photos.bad_files().items():
        assert (items[name]["state"], items[name]["reason"]) == ("REJECTED", reason)
    webhooks = report["webhooks"]  # at least once: one event per job, perhaps delivered twice, every one signed
    assert webhooks["verified"] == webhooks["received"] >= len(items)
    assert report["pool"]["max_nodes"] >= 1  # the pool scaled up from zero

    # The table a newcomer reads: a row per file with its state, and the live progress before it.
    for name, item in items.items():
        assert re.search(rf"^\s+{re.escape(name[:34])}\s+{item['state']}\s", done.stdout, re.M), name
    assert "jobs: " in done.stdout and "pool: " in done.stdout

    # Without --keep the stack is gone: its folder removed, its API no longer answering.
    folder = re.search(r"Generated \d+ files in (\S+)/photos", done.stdout)
    api = re.search(r"up: API (\S+)/api", done.stdout)
    assert folder and api
    assert not Path(folder[1]).exists()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{api[1]}/api/health", timeout=5)
