"""The host's peak memory does not follow the size of the blob that fires the trigger.

A device holding an upload SAS writes ~300 MB (a SAS cannot cap the size) straight into `photos/`; the real
function_app.py on the local host rejects the job `too_large`. With the blob trigger bound to a BlobClient
the host hands over a reference, so its peak resident set grows by a small fraction of the blob's size; a
host that downloads the blob (the `InputStream` binding) grows by more than the whole size. The figures
themselves are reported by `python -m benchmarks.host_memory`.
"""

from __future__ import annotations

import pytest

from benchmarks.host_memory import MIB, measure

pytestmark = pytest.mark.integration
BIG = 288 * MIB  # ~300 MB


def test_a_blob_far_over_the_cap_is_rejected_without_the_host_holding_it(storage_connection, tmp_path, unique):
    run = measure(storage_connection, tmp_path, BIG, unique)

    baseline, big = run["baseline"], run["big"]
    assert (baseline["state"], baseline["reason"]) == ("REJECTED", "too_large")
    assert (big["state"], big["reason"], big["blob_bytes"]) == ("REJECTED", "too_large", BIG)
    # A memory ratio, not a timing: the peak grew by under a quarter of the blob's size.
    assert big["peak_growth_kib"] * 1024 < 0.25 * BIG, run
