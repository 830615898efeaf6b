"""Fixtures shared by the status API's tests: the in-memory pipeline and the API over it."""

from __future__ import annotations

import pytest

from shared.jobs.api import JobsApi
from tests.unit.jobs.test_pipeline import World


@pytest.fixture
def api(world: World) -> JobsApi:
    return JobsApi(world.store, world.photos, retry=world.ingestion.retry)
