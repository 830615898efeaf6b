"""The local export round trip in a fresh process (providers are global to a process): spans, links and
counters written by `batch_tasks.telemetry_files` and read back by `sitelens.trace_reader`."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from sitelens.trace import waterfall
from sitelens.trace_reader import job_spans, total

REPO = Path(__file__).resolve().parents[3]
PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

SCRIPT = textwrap.dedent(f"""
    import logging, os, sys
    from batch_tasks import telemetry
    logging.basicConfig(level=logging.INFO)
    from batch_tasks.node.batching import Batcher
    assert telemetry.setup("unit-test") == "files"
    batcher = Batcher(lambda items: [i * 2 for i in items], max_batch=4, max_wait=0.05, max_queue=8, name="m")
    with telemetry.job_span("ingest", "j_one", parent="{PARENT}"):
        with telemetry.job_span("infer", "j_one"):
            assert batcher.submit(21).result(5) == 42
            logging.getLogger("sitelens.test").info("inferred")
        sys.stdout.write(telemetry.current_traceparent() or "")
    with telemetry.job_span("ingest", "j_two", parent="not-a-traceparent") as span:
        telemetry.fail(span, "corrupt_image")
    telemetry.counter("sitelens.photos.received", "{{photo}}", "").add(2, {{"site": "a"}})
    telemetry.counter("sitelens.photos.received", "{{photo}}", "").add(1, {{"site": "b"}})
    batcher.stop()
    telemetry.flush()
""")


def run_exporting(folder: Path) -> str:
    env = {"PATH": "/usr/bin:/bin", "SITELENS_TELEMETRY_DIR": str(folder), "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=60,
                          check=False, cwd=REPO)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_spans_links_and_counters_round_trip_through_the_files(tmp_path: Path) -> None:
    inside = run_exporting(tmp_path)
    assert inside.split("-")[1] == PARENT.split("-")[1]  # the device's trace continues
    one = job_spans(tmp_path, "j_one")
    by_name = {s["name"]: s for s in one}
    assert set(by_name) == {"ingest", "infer", "node.batch"}
    assert by_name["ingest"]["parent_span_id"] == "b7ad6b7169203331"
    assert by_name["infer"]["parent_span_id"] == by_name["ingest"]["span_id"]
    batch = by_name["node.batch"]
    assert batch["trace_id"] != by_name["infer"]["trace_id"]  # its own trace ...
    assert batch["links"] == [{"trace_id": by_name["infer"]["trace_id"], "span_id": by_name["infer"]["span_id"]}]
    assert batch["attributes"]["sitelens.batch_size"] == 1
    [two] = job_spans(tmp_path, "j_two")
    assert two["parent_span_id"] is None and two["trace_id"] != by_name["ingest"]["trace_id"]  # a new trace
    assert (two["status"], two["attributes"]["sitelens.reason"]) == ("error", "corrupt_image")
    assert total(tmp_path, "sitelens.photos.received") == 3
    assert total(tmp_path, "sitelens.photos.received", site="a") == 2
    assert total(tmp_path, "sitelens.node.photos") == 1
    assert job_spans(tmp_path, "j_unknown") == []
    [logged] = [json.loads(line) for f in tmp_path.glob("*.logs.jsonl") for line in f.read_text().splitlines()]
    assert (logged["body"], logged["job_id"]) == ("inferred", "j_one")
    assert (logged["trace_id"], logged["span_id"]) == (by_name["infer"]["trace_id"], by_name["infer"]["span_id"])
    rows = waterfall(one).splitlines()
    # in start order, the linked batch marked
    assert [r.split()[1] for r in rows[1:]] == ["ingest", "infer", "~node.batch"]
    assert all(r.split()[0] == "unit-test" for r in rows[1:])


def test_nothing_is_written_when_telemetry_is_off(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "SITELENS_TELEMETRY_DIR": str(tmp_path), "SITELENS_TELEMETRY": "off",
           "PYTHONPATH": str(REPO)}  # fmt: skip
    script = "from batch_tasks import telemetry; print(telemetry.setup('x'))"
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60,
                          check=True, cwd=REPO)  # fmt: skip
    assert done.stdout.strip() == "none" and not list(tmp_path.iterdir())


def test_sampling_follows_otel_traces_sampler_in_either_spelling(tmp_path: Path) -> None:
    """Azure Monitor's spelling (`parentbased_trace_id_ratio`) works for the file export too: at ratio 0 a
    new trace is dropped, a photo whose device sampled it is kept."""
    env = {"PATH": "/usr/bin:/bin", "SITELENS_TELEMETRY_DIR": str(tmp_path), "PYTHONPATH": str(REPO),
           "OTEL_TRACES_SAMPLER": "parentbased_trace_id_ratio", "OTEL_TRACES_SAMPLER_ARG": "0"}  # fmt: skip
    script = textwrap.dedent(f"""
        from batch_tasks import telemetry
        telemetry.setup("sampled")
        with telemetry.job_span("ingest", "j_new"):
            pass
        with telemetry.job_span("ingest", "j_device", parent="{PARENT}"):
            pass
        telemetry.flush()
    """)
    subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60,
                   check=True, cwd=REPO)  # fmt: skip
    assert job_spans(tmp_path, "j_new") == []
    assert [s["name"] for s in job_spans(tmp_path, "j_device")] == ["ingest"]
