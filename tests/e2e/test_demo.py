"""`sitelens demo` (what `make demo` runs) from a user's seat: a real subprocess, its output, its exit code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]


def test_demo_runs_the_stack_end_to_end_and_cleans_up():
    done = subprocess.run(
        [sys.executable, "-m", "sitelens", "demo"], cwd=REPO, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "GET /api/health -> 200" in done.stdout
    assert done.stdout.rstrip().endswith("demo: OK")
