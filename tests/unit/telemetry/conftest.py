"""Fixtures the telemetry tests share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.unit.telemetry.test_azure_export_volume import Ingestion


@pytest.fixture
def ingestion() -> Iterator[Ingestion]:
    """Application Insights' ingestion on loopback, for the length of one test."""
    stand_in = Ingestion()
    yield stand_in
    stand_in.server.shutdown()
    stand_in.server.server_close()
