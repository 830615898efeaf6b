"""The sync invocation pool is sized as the Python worker sizes it, from the worker's environment."""

from __future__ import annotations

import os

from emulators.functions_host.host import worker_threads


def test_the_setting_in_the_environment_sizes_the_pool():
    # An app setting reaches the worker as an environment variable, not only through local.settings.json.
    assert worker_threads({"PYTHON_THREADPOOL_THREAD_COUNT": "16"}) == 16


def test_without_the_setting_the_workers_default():
    default = min(32, (os.cpu_count() or 1) + 4)
    assert worker_threads({}) == default
    assert worker_threads({"PYTHON_THREADPOOL_THREAD_COUNT": ""}) == default
