"""A failed task's exit conditions: which job action applies (for jobs with `performexitoptionsjobaction`).

The first match wins: `exitCodes`, then `exitCodeRanges` for an exit code; `preProcessingError` when the
task could not start; `fileUploadError` when its outputs could not be uploaded; else `default`. An
`exitOptions` without a `jobAction`, like no match at all, means `terminate` (Batch's default for every
failure).
"""

from __future__ import annotations

from typing import Any

Doc = dict[str, Any]
DEFAULT_ACTION = "terminate"


def _options(conditions: Doc, exit_code: int | None, kind: str) -> Doc | None:
    if kind == "preprocessing":
        return conditions.get("preProcessingError") or conditions.get("default")
    if kind == "upload":
        return conditions.get("fileUploadError") or conditions.get("default")
    if exit_code is not None:
        for mapping in conditions.get("exitCodes") or []:
            if mapping.get("code") == exit_code:
                return dict(mapping.get("exitOptions") or {})
        for mapping in conditions.get("exitCodeRanges") or []:
            if int(mapping.get("start", 0)) <= exit_code <= int(mapping.get("end", -1)):
                return dict(mapping.get("exitOptions") or {})
    return conditions.get("default")


def job_action(conditions: Doc | None, exit_code: int | None, kind: str) -> str:
    """`none`, `disable` or `terminate` for a task that failed this way."""
    options = _options(conditions or {}, exit_code, kind)
    return str((options or {}).get("jobAction") or DEFAULT_ACTION)
