"""Result paths: one builder for the node (writer) and the app (reader), one form in completion messages."""

from __future__ import annotations

import json
import logging

import pytest

from batch_tasks import artifacts
from shared.jobs import ids
from shared.jobs.api import JobsApi
from shared.jobs.models import JobState
from tests.unit.jobs.test_pipeline import World, photo


@pytest.fixture
def world() -> World:
    return World()


def test_the_app_builds_the_paths_the_node_writes() -> None:
    assert ids.result_path is artifacts.result_path and ids.overlay_path is artifacts.overlay_path
    assert artifacts.result_path("j_a") == "j_a/result.json"  # a blob name in `results`, no container prefix
    assert artifacts.overlay_beside(artifacts.result_path("j_a")) == artifacts.overlay_path("j_a")


@pytest.mark.parametrize("path", ["j_a/overlay.jpg", "results", "j_a/result.json.bak"])
def test_only_a_result_path_has_an_overlay_beside_it(path: str) -> None:
    with pytest.raises(ValueError, match="not a result path"):
        artifacts.overlay_beside(path)


def test_a_job_served_from_the_cache_links_to_the_owners_result_and_overlay(world: World) -> None:
    data = photo(1)
    owner = world.ingestion.ingest(world.upload(1, data))
    follower = world.ingestion.ingest(world.upload(2, data))
    world.completion.handle(world.finish_task(owner.id))
    links = JobsApi(world.store, world.photos, retry=world.ingestion.retry).links(world.store.get(follower.id))
    assert links["result"].startswith(f"memory://results/{owner.id}/result.json")
    assert links["overlay"].startswith(f"memory://results/{owner.id}/overlay.jpg")


def test_a_message_naming_another_form_is_logged_and_the_result_read_where_the_id_puts_it(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    job = world.ingestion.ingest(world.upload(1))
    message = json.loads(world.finish_task(job.id))
    message["result_path"] = f"results/{ids.result_path(job.id)}"  # as a node of an earlier release wrote it
    with caplog.at_level(logging.WARNING, logger="shared.jobs.completion"):
        done = world.completion.handle(json.dumps(message).encode())
    assert done.state is JobState.SUCCEEDED and done.result_path == ids.result_path(job.id)
    assert f"names 'results/{job.id}/result.json'" in caplog.text


def test_a_message_in_the_one_form_is_accepted_without_a_warning(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    job = world.ingestion.ingest(world.upload(1))
    with caplog.at_level(logging.WARNING, logger="shared.jobs.completion"):
        done = world.completion.handle(world.finish_task(job.id))
    assert done.state is JobState.SUCCEEDED and not caplog.records
