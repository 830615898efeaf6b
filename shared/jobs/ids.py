"""Deterministic ids: every hop can deliver twice, so every id is derived, never drawn.

- job id: from the blob's name alone. Names are minted once per site, device and photo id by the upload
  service, so the id is known before the upload (the upload reply's `job_hint`) and one name is one job:
  a later write under the name is recorded on that job, never a second one. A retry of a FAILED job gets
  an id of its own, from the name and the id it retries;
- Batch task id = job id; Batch job id: one per UTC day, whatever the model (the task's environment names
  its model), so the account's quota of active jobs holds a few days whatever the number of versions routed;
- result, overlay and derived paths: from the job id, built by `batch_tasks.artifacts` (the node writes
  where the app reads; re-exported here); webhook event id: from the job id and its terminal state.
"""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import date

from batch_tasks.artifacts import derived_path, overlay_beside, overlay_path, result_path

__all__ = [
    "JOB_ID", "batch_job_id", "derived_path", "event_id", "is_job_id", "job_id_for", "overlay_beside",
    "overlay_path", "result_path", "same_version",
]  # fmt: skip

JOB_ID = re.compile(r"j_[a-z2-7]{26}")  # used with fullmatch: `$` would let a trailing newline pass


def job_id_for(blob_name: str, retry_of: str | None = None) -> str:
    """`j_` + 26 base32 characters (130 bits) of sha256(name[, retried job id]): valid as a Batch task id."""
    key = blob_name if retry_of is None else f"{blob_name}\nretry-of {retry_of}"
    digest = hashlib.sha256(key.encode()).digest()
    return "j_" + base64.b32encode(digest).decode("ascii").lower()[:26]


def same_version(etag: str | None, other: str | None) -> bool:
    """Two ETags name the same blob version (the SDKs hand them out with and without quotes)."""
    return etag is not None and other is not None and etag.strip(chr(34)) == other.strip(chr(34))


def is_job_id(value: str) -> bool:
    return JOB_ID.fullmatch(value) is not None


def content_key(sha256: str, model: str) -> str:
    """What duplicate photos share: the same bytes read by the same model. A photo whose bytes were read
    before by another model (an A/B split, a new version routed since) is read again by its own."""
    return f"{sha256}~{model.replace('/', '~')}"  # table keys take no '/'; model names have no '~'


def batch_job_id(day: date) -> str:
    """`sitelens-20261122`: the Batch job of every task submitted for photos received that UTC day.

    One Batch job per day, not per model and day: Batch counts active jobs against the account's quota (100
    to 300 by default) and a day's job stays active until the reconciler closes it, so a job per model version
    filled the quota once a few dozen versions were routed, and then every new model-day was refused. The day
    ends the id, as it ended the per-model ids an earlier release made, which the submitter still closes."""
    return f"sitelens-{day:%Y%m%d}"


def event_id(job_id: str, state: str) -> str:
    """One event per job and terminal state; the same id on every retry and every replay."""
    return f"evt_{job_id}_{state.lower()}"
