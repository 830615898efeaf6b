"""A routing.json an earlier release wrote, naming an id the id rule now refuses (ending in '.'), on Azurite:
ingestion routes the rest of it, and `sitelens models route` lists, removes and drops that route."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging

import pytest
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobServiceClient, ContainerClient

from shared.adapters.azure_photo_store import ROUTING_TTL_S, BlobRouting
from shared.jobs import routing
from sitelens import models_route
from tests.integration.models.test_routes import container, publish, sitelens, stored
from tests.unit.jobs.test_routing_skipped_ids import UPGRADED as stored_by_an_earlier_release

pytestmark = pytest.mark.integration
__all__ = ["container"]  # the fixture, a container of this test's own

UPGRADED = json.dumps(stored_by_an_earlier_release).encode()


def skipped_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "shared.jobs.routing" and r.levelno == logging.WARNING]


def test_a_new_instance_routes_the_good_routes_and_the_cli_lists_removes_and_refuses_the_bad_id(
    storage_connection, caplog
):
    service = BlobServiceClient.from_connection_string(storage_connection)
    blob = service.get_blob_client("models", "routing.json")
    with contextlib.suppress(ResourceExistsError):
        service.create_container("models")
    blob.upload_blob(UPGRADED, overwrite=True)
    try:
        now = [0.0]
        routes = BlobRouting(service, clock=lambda: now[0])  # an instance started after the upgrade
        with caplog.at_level(logging.WARNING):
            for _ in range(5):  # many photos within the minute: one read, one warning
                assert routes.weights("north-yard") == [("pipe-defects/1.1.0", 100)]
                assert routes.weights("south-yard") == [("ocr/ppocrv4", 100)]
            [warning] = skipped_warnings(caplog)
            assert "site north-yard: 'pipe-defects/1.0.' weight 0" in warning
            now[0] = ROUTING_TTL_S  # the next read logs it again: a fault that stays is seen
            routes.weights("north-yard")
            assert len(skipped_warnings(caplog)) == 2

        connection = ["--connection-string", storage_connection]
        listed = sitelens("routes", *connection)
        assert listed.returncode == 0, listed.stdout + listed.stderr
        assert "site north-yard: pipe-defects/1.1.0 100 (100 %)" in listed.stdout
        assert (
            "ignored, its model name or version ends in '.'" in listed.stdout
            and "'pipe-defects/1.0.' weight 0" in listed.stdout
        )

        added = sitelens("route", "--site", "north-yard", "--model", "pipe-defects:1.2.", "--weight", "5", *connection)
        assert added.returncode == 1 and "'pipe-defects/1.2.' is not a model id" in added.stderr
        assert blob.download_blob().readall() == UPGRADED  # nothing written

        removed = sitelens("route", "--site", "north-yard", "--model", "pipe-defects:1.0.", "--remove", *connection)
        assert removed.returncode == 0, removed.stdout + removed.stderr
        assert "site north-yard: pipe-defects/1.1.0 100 (100 %)" in removed.stdout
        document = blob.download_blob().readall()
        assert b"1.0." not in document
        assert routing.parse_table(document).for_site("north-yard") == [("pipe-defects/1.1.0", 100)]
    finally:
        with contextlib.suppress(ResourceNotFoundError):
            blob.delete_blob()


def test_any_edit_drops_the_routes_it_cannot_serve_and_says_which(container: ContainerClient, monkeypatch, capsys):
    container.upload_blob("routing.json", UPGRADED)
    publish(container, "pipe-defects/1.1.0")
    monkeypatch.setattr(models_route, "_container", lambda args: container)
    args = argparse.Namespace(site="north-yard", model="pipe-defects/1.1.0", weight=90, remove=False,
                              default_model="ocr/ppocrv4")  # fmt: skip
    assert models_route.run_route(args) == 0
    printed = capsys.readouterr()
    dropped = "dropped routes whose model name or version ends in '.': site north-yard: 'pipe-defects/1.0.' weight 0"
    assert dropped in printed.err  # a warning, beside the table written on stdout
    assert "site north-yard: pipe-defects/1.1.0 90" in printed.out
    assert "ignored" not in printed.out  # the table shown is the one written
    assert stored(container).skipped == ()
    assert stored(container).for_site("north-yard") == [("pipe-defects/1.1.0", 90)]
