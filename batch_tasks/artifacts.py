"""Where a job's blobs live: the one builder of these paths for both deployables. Standard library only.

The node writes `result.json` and `overlay.jpg` under the job's folder in the `results` container; the app
reads them there, links to them, and checks them against the completion message. The app package ships
this module beside `shared/` (infra/package.py), so the writer and the reader cannot disagree.

Every path is a blob name inside its container (never prefixed with the container's name), fixed per job:
a re-run overwrites the same blobs, which is what makes a task safe to repeat.

A model id `{name}/{version}` is the folder of a model's files in the `models` container and on a node; the
app routes photos to ids (shared/jobs/routing.py) that the node loads and `sitelens models` writes, so the
one rule for an id is here too.
"""

from __future__ import annotations

import re

RESULTS = "results"  # the container the node writes to and the app reads from
# A name, a version or a model's file name: one plain path segment (it becomes a blob folder and a local
# folder) of 1-128 characters. It ends in a letter, digit, `_` or `-`, never `.`: Azure Blob storage drops a
# segment's trailing dot (`ocr/1.0./x` is stored as `ocr/1.0/x`), so such an id would name blobs that are never
# found under it, while Azurite keeps them apart and hides the fault locally. A job's content key, a Table key
# of at most 1 KiB, holds an id of 257 characters with room to spare.
MODEL_SEGMENT = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,126}[A-Za-z0-9_-])?")
MODEL_ID = re.compile(rf"{MODEL_SEGMENT.pattern}/{MODEL_SEGMENT.pattern}")


def is_model_id(text: str) -> bool:
    """`name/version`, each a segment; fullmatch, since `$` would let a trailing newline pass."""
    return MODEL_ID.fullmatch(text) is not None


def result_path(job_id: str) -> str:
    """`{job_id}/result.json` in `results`: written last, so a reader that finds it finds its overlay."""
    return f"{job_id}/result.json"


def overlay_path(job_id: str) -> str:
    return f"{job_id}/overlay.jpg"  # in `results`


def overlay_beside(result: str) -> str:
    """The overlay of the job that wrote `result`: a job served from another's cache holds that job's path."""
    folder, _, name = result.rpartition("/")
    if not folder or name != "result.json":
        raise ValueError(f"{result!r} is not a result path")
    return overlay_path(folder)


def derived_path(job_id: str) -> str:
    return f"{job_id}/input.jpg"  # in `derived`: the normalised photo the node reads
