"""`sitelens models route`: conditional edits of routing.json on Azurite, racing editors, and the CLI end to end."""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobServiceClient, ContainerClient

from batch_tasks.node.settings import DEFAULT_MODEL_CACHE
from shared.adapters.azure_photo_store import BlobRouting
from shared.errors import Conflict
from shared.jobs import routing
from sitelens import models_route
from tests.support.onnx_models import write_classify_model

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def container(storage_connection: str, unique: str) -> ContainerClient:
    """A container of its own, so routing.json here is no other test's."""
    client = BlobServiceClient.from_connection_string(storage_connection).get_container_client(f"models{unique}")
    client.create_container()
    return client


def publish(container: ContainerClient, *models: str) -> None:
    """What `published` looks for: the model's manifest in the container."""
    for model in models:
        container.upload_blob(f"{model}/manifest.json", b"{}", overwrite=True)


def stored(container: ContainerClient) -> routing.RoutingTable:
    return routing.parse_table(container.download_blob("routing.json").readall())


def test_a_route_to_an_unpublished_model_is_refused_and_nothing_is_written(container):
    with pytest.raises(models_route.RouteRefused, match="not published"):
        models_route.set_route(container, "north-yard", "pipe-defects/1.0.0", 100)
    assert not container.get_blob_client("routing.json").exists()


def test_weight_0_rolls_back_a_route_to_a_version_never_published_and_a_weight_still_needs_it(
    container, monkeypatch, capsys
):
    """The rollback from a hand-edited route to an unpublished version (docs/models.md#rolling-back) works."""
    monkeypatch.setattr(models_route, "_container", lambda args: container)
    publish(container, "pipe-defects/1.0.0")
    routes = (("pipe-defects/1.0.0", 90), ("pipe-defects/9.0.0", 10))  # 9.0.0's photos fail `unknown_model`
    container.upload_blob("routing.json", routing.RoutingTable(sites={"north-yard": routes}).to_bytes())

    def route(model: str, weight: int) -> int:
        args = argparse.Namespace(site="north-yard", model=model, weight=weight, remove=False, default_model=None)
        return models_route.run_route(args)

    assert route("pipe-defects/9.0.0", 0) == 0
    rolled_back = [("pipe-defects/1.0.0", 90), ("pipe-defects/9.0.0", 0)]
    assert stored(container).for_site("north-yard") == rolled_back
    assert "site north-yard: pipe-defects/1.0.0 90 (100 %), pipe-defects/9.0.0 0 (0 %)" in capsys.readouterr().out
    assert route("pipe-defects/9.0.0", 10) == 1  # traffic back to it: only once it is published
    assert "not published" in capsys.readouterr().err
    assert route("pipe-defects/9.0.1", 0) == 1  # a mistyped version is not added beside the live route
    assert "has no route for north-yard" in capsys.readouterr().err
    assert stored(container).for_site("north-yard") == rolled_back


def test_writes_are_conditional_on_the_version_read(container):
    table = routing.with_route(routing.RoutingTable(), None, "ocr/ppocrv4", 100)
    models_route.write_table(container, table, None)  # If-None-Match: *
    with pytest.raises(Conflict):
        models_route.write_table(container, table, None)  # a document exists now
    _, etag = models_route.read_table(container)
    assert etag is not None
    container.upload_blob("routing.json", table.to_bytes(), overwrite=True)  # another writer, unconditional
    with pytest.raises(Conflict):
        models_route.write_table(container, table, etag)  # If-Match the version read before: stale


def test_two_editors_racing_lose_no_update(container):
    publish(container, "pipe-defects/1.0.0", "pipe-defects/1.1.0")
    calls = []

    def first_editor(table: routing.RoutingTable) -> routing.RoutingTable:
        calls.append(table)
        if len(calls) == 1:  # between this editor's read and its write, the other editor's edit lands
            models_route.set_route(container, "north-yard", "pipe-defects/1.1.0", 50)
        return routing.with_route(table, "north-yard", "pipe-defects/1.0.0", 50)

    models_route.edit(container, first_editor)
    assert len(calls) == 2  # its first write was refused (412) and it applied its change again
    assert stored(container).for_site("north-yard") == [("pipe-defects/1.1.0", 50), ("pipe-defects/1.0.0", 50)]


def test_many_editors_in_threads_lose_no_update(container):
    sites = [f"site-{i}" for i in range(6)]
    publish(container, "pipe-defects/1.0.0")
    with ThreadPoolExecutor(len(sites)) as pool:  # .result() re-raises what an editor raised
        for done in [pool.submit(models_route.set_route, container, s, "pipe-defects/1.0.0", 10) for s in sites]:
            done.result(timeout=60)
    assert sorted(stored(container).sites) == sites


def test_removing_a_route_that_is_not_there_is_refused(container):
    with pytest.raises(models_route.RouteRefused, match="has no route"):
        models_route.remove_route(container, "north-yard", "pipe-defects/1.0.0")


def test_a_route_that_puts_more_models_in_rotation_than_a_node_keeps_warns_how_to_raise_it(
    container, monkeypatch, capsys
):
    monkeypatch.setattr(models_route, "_container", lambda args: container)
    versions = [f"pipe-defects/1.{minor}.0" for minor in range(DEFAULT_MODEL_CACHE)]
    publish(container, *versions)

    def route(model: str, default_model: str | None = "ocr/ppocrv4") -> str:
        args = argparse.Namespace(site="north-yard", model=model, weight=10, remove=False, default_model=default_model)
        assert models_route.run_route(args) == 0
        return str(capsys.readouterr().err)  # a warning, not the table written

    # The default model for every other site, and the site's versions: one short of the default cache, then one more.
    assert all("SITELENS_MODEL_CACHE" not in route(model) for model in versions[:-1])
    printed = route(versions[-1])
    assert f"new photos go to {DEFAULT_MODEL_CACHE + 1} models" in printed
    assert f"SITELENS_MODEL_CACHE: '{DEFAULT_MODEL_CACHE + 1}' to nodeSettings" in printed
    unknown_default = route(versions[-1], default_model=None)  # the same edit again, the default model not named
    assert f"new photos go to at least {DEFAULT_MODEL_CACHE} models" in unknown_default
    assert f"SITELENS_MODEL_CACHE: '{DEFAULT_MODEL_CACHE + 1}' to nodeSettings" in unknown_default
    assert stored(container).for_site("north-yard") == [(model, 10) for model in versions]  # written all the same


def sitelens(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sitelens", "models", *args],
                          capture_output=True, text=True, check=False, cwd=REPO, timeout=120)  # fmt: skip


def test_publish_route_list_and_remove_through_the_cli_and_ingestion_sees_the_site_route(tmp_path, storage_connection):
    folder = write_classify_model(tmp_path / "colours", name="colours-routes", version="1.0.0")
    service = BlobServiceClient.from_connection_string(storage_connection)
    with contextlib.suppress(ResourceNotFoundError):
        service.get_blob_client("models", "routing.json").delete_blob()
    now = [0.0]
    running = BlobRouting(service, clock=lambda: now[0])  # a Functions instance already reading the routes
    assert running.weights("north-yard") == []
    connection = ["--connection-string", storage_connection]
    model = ("--site", "north-yard", "--model", "colours-routes:1.0.0")
    unpublished = sitelens("route", *model, *connection)
    assert unpublished.returncode == 1 and "not published" in unpublished.stderr and unpublished.stdout == ""
    done = sitelens("publish", str(folder), *connection)
    assert done.returncode == 0, done.stdout + done.stderr
    try:
        done = sitelens("route", *model, "--weight", "30", *connection)
        assert done.returncode == 0, done.stdout + done.stderr
        listed = sitelens("routes", *connection)
        assert "site north-yard: colours-routes/1.0.0 30 (100 %)" in listed.stdout
        routes = BlobRouting(service)  # what ingestion reads: a fresh reader sees the edit at once
        assert routes.weights("north-yard") == [("colours-routes/1.0.0", 30)]
        assert routes.weights("east-yard") == []  # other sites keep the default model
        now[0] = 59.0
        assert running.weights("north-yard") == []  # a running instance keeps its copy up to a minute...
        now[0] = 60.0
        assert running.weights("north-yard") == [("colours-routes/1.0.0", 30)]  # ...then reads the edit
        done = sitelens("route", *model, "--remove", *connection)
        assert done.returncode == 0, done.stdout + done.stderr
        assert BlobRouting(service).weights("north-yard") == []
    finally:
        with contextlib.suppress(ResourceNotFoundError):
            service.get_blob_client("models", "routing.json").delete_blob()
