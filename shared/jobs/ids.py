"""Deterministic ids: every hop can deliver twice, so every id is derived, never drawn.

- job id: from the blob's name and ETag (a re-upload of the same name is a new version, hence a new job);
- Batch task id = job id; Batch job id: one per model version and UTC day;
- result paths: from the job id; webhook event id: from the job id and its terminal state.
"""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import date

_BATCH_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
JOB_ID = re.compile(r"^j_[a-z2-7]{26}$")


def job_id_for(blob_name: str, etag: str) -> str:
    """`j_` + 26 base32 characters (130 bits) of sha256(name, ETag without quotes): valid as a Batch task id."""
    digest = hashlib.sha256(f"{blob_name}\n{etag.strip(chr(34))}".encode()).digest()
    return "j_" + base64.b32encode(digest).decode("ascii").lower()[:26]


def is_job_id(value: str) -> bool:
    return bool(JOB_ID.match(value))


def batch_job_id(model: str, day: date) -> str:
    """`sitelens-ocr-ppocrv4-20261122`: Batch ids allow letters, digits, '-' and '_' up to 64 characters."""
    return f"sitelens-{_BATCH_UNSAFE.sub('-', model)}-{day:%Y%m%d}"[:64]


def result_path(job_id: str) -> str:
    return f"{job_id}/result.json"  # in the `results` container


def overlay_path(job_id: str) -> str:
    return f"{job_id}/overlay.jpg"


def derived_path(job_id: str) -> str:
    return f"{job_id}/input.jpg"  # in the `derived` container


def event_id(job_id: str, state: str) -> str:
    """One event per job and terminal state; the same id on every retry and every replay."""
    return f"evt_{job_id}_{state.lower()}"
