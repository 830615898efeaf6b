"""function_app.py imported as the Functions host's worker imports it, in a process of its own: a setting's bad
value must leave every function registered, and be refused when the app uses its settings (a 503 naming it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from tests.support.stack import REPO

pytestmark = pytest.mark.integration
IMPORT = (
    "import json, function_app; from shared.composition import unavailable; "
    "print(json.dumps({'functions': len(function_app.app.get_functions()), 'refusal': unavailable()}))"
)


def imported(**settings: str) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SITELENS_")}
    env |= {"AzureWebJobsStorage": "UseDevelopmentStorage=true", **settings}
    done = subprocess.run(
        [sys.executable, "-c", IMPORT], cwd=REPO, env=env, capture_output=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    result: dict[str, Any] = json.loads(done.stdout.decode().splitlines()[-1])
    return result


def test_quality_flags_that_are_not_names_leave_every_function_registered_and_refuse_the_settings() -> None:
    good = imported()
    bad = imported(SITELENS_QUALITY_REJECT='{"north-yard": [["blurry"]]}')
    assert good["refusal"] is None and bad["functions"] == good["functions"]
    status, problem = bad["refusal"]
    assert status == 503 and problem["reason"] == "configuration_error"
    assert "SITELENS_QUALITY_REJECT[north-yard]" in problem["detail"]
