"""A batch's spans are kept with the photos they serve: `node.batch` starts a trace of its own, linked to each
photo's span, and is sampled when one of those photos is, and not when none is, whatever ratio the sampler
is set to. Each case sets telemetry up in its own process (providers are global) for the files export or the
Azure Monitor distro (an ingestion endpoint on a closed loopback port), at a ratio of 0, so that no new trace
is kept for its own sake."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sitelens.trace_reader import spans
from tests.unit.telemetry.recording import REPO
from tests.unit.telemetry.test_sampling_default import AZURE

KEPT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"  # a photo its device sampled
DROPPED = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"  # one it did not
PROBE = f"""
import json, os
from opentelemetry import trace
from batch_tasks import telemetry
from batch_tasks.node.batching import Batcher
where = telemetry.setup("sitelens-node")


def run(items):
    with telemetry.stage("det"):
        return [trace.get_current_span().get_span_context().trace_flags.sampled for _ in items]


batcher = Batcher(run, max_batch=1, max_wait=0.0, max_queue=4, name="m")
batch_sampled = {{}}
for job, parent in (("j_kept", "{KEPT}"), ("j_dropped", "{DROPPED}")):
    with telemetry.job_span("node.job", job, parent=parent):
        with telemetry.tracer().start_as_current_span("infer"):
            batch_sampled[job] = batcher.submit(0).result(10)
batcher.stop()
telemetry.flush()
print(json.dumps({{"where": where, "batch_sampled": batch_sampled}}))
os._exit(0)  # Azure Monitor's exporter would try its closed port at exit
"""


def probe(**env: str) -> dict[str, object]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "APPLICATIONINSIGHTS_", "SITELENS_"))}
    done = subprocess.run([sys.executable, "-c", PROBE], env={**clean, "PYTHONPATH": str(REPO), **env}, cwd=REPO,
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


RATIO_0 = {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0"}


def test_the_files_export_keeps_the_batch_spans_of_a_kept_photo_and_only_those(tmp_path: Path) -> None:
    result = probe(SITELENS_TELEMETRY_DIR=str(tmp_path), **RATIO_0)
    assert result == {"where": "files", "batch_sampled": {"j_kept": True, "j_dropped": False}}
    written = spans(tmp_path)
    assert sorted(s["name"] for s in written) == ["det", "infer", "node.batch", "node.job"]  # the kept photo's
    by_name = {s["name"]: s for s in written}
    batch = by_name["node.batch"]
    assert batch["parent_span_id"] is None and batch["trace_id"] != by_name["infer"]["trace_id"]  # its own trace
    assert [link["span_id"] for link in batch["links"]] == [by_name["infer"]["span_id"]]
    assert by_name["det"]["parent_span_id"] == batch["span_id"]


@pytest.mark.parametrize("sampler", ["parentbased_trace_id_ratio", "parentbased_traceidratio"])  # either spelling
def test_azure_monitors_distro_samples_a_batch_as_its_photos(sampler: str) -> None:
    result = probe(**AZURE, OTEL_TRACES_SAMPLER=sampler, OTEL_TRACES_SAMPLER_ARG="0")
    assert result == {"where": "azure", "batch_sampled": {"j_kept": True, "j_dropped": False}}


def test_a_batch_of_photos_none_of_which_is_kept_is_dropped_even_where_every_new_trace_is_kept(tmp_path: Path) -> None:
    result = probe(SITELENS_TELEMETRY_DIR=str(tmp_path))  # the default: parentbased_always_on
    assert result == {"where": "files", "batch_sampled": {"j_kept": True, "j_dropped": False}}
    assert not [s for s in spans(tmp_path) if s["trace_id"] == DROPPED.split("-")[1]]
    assert sorted(s["name"] for s in spans(tmp_path)) == ["det", "infer", "node.batch", "node.job"]
