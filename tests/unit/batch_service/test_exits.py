"""Which job action a failed task's exit conditions choose."""

from __future__ import annotations

import pytest

from emulators.batch_service.exits import job_action

CONDITIONS = {
    "exitCodes": [{"code": 3, "exitOptions": {"jobAction": "none"}}, {"code": 4, "exitOptions": {}}],
    "exitCodeRanges": [{"start": 10, "end": 19, "exitOptions": {"jobAction": "disable"}}],
    "preProcessingError": {"jobAction": "none"},
    "default": {"jobAction": "terminate"},
}


@pytest.mark.parametrize(
    ("conditions", "exit_code", "kind", "action"),
    [
        (CONDITIONS, 3, "exitcode", "none"),
        (CONDITIONS, 4, "exitcode", "terminate"),  # options without a job action: Batch's default
        (CONDITIONS, 12, "exitcode", "disable"),
        (CONDITIONS, 99, "exitcode", "terminate"),
        (CONDITIONS, None, "preprocessing", "none"),
        (CONDITIONS, 0, "upload", "terminate"),  # no fileUploadError: the default
        (None, 1, "exitcode", "terminate"),
        ({"default": {"jobAction": "none"}}, 137, "wallclock", "none"),
    ],
)
def test_job_action(conditions, exit_code, kind, action):
    assert job_action(conditions, exit_code, kind) == action
