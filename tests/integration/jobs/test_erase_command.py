"""`sitelens erase` against Azurite, after the real pipeline (tests/integration/jobs/real_world.py) made a photo's
jobs: an owner that ran, a follower listed in its claim while it ran, a duplicate that reused its result after it
had succeeded, each with its event and its delivery to a subscription of the site; feedback, an upload
reservation, a snapshot and a quarantine copy of the original. Every blob and row of the three goes; a job of
the same site with other bytes keeps all of its own."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from shared.adapters.azure_photo_store import DERIVED, PHOTOS, QUARANTINE, RESULTS
from shared.config import dev_storage_connection_string
from shared.errors import NotFound
from shared.jobs import ids
from shared.jobs.models import Job, JobState
from shared.uploads.azure_table_reservations import TableReservationStore
from shared.uploads.ports import Reservation
from sitelens import cli, erase_command
from tests.integration.jobs.real_world import RealWorld
from tests.integration.jobs.test_duplicate_bytes_takeover import succeed, upload
from tests.unit.jobs.test_pipeline import photo

pytestmark = pytest.mark.integration
T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def kept_by(world: RealWorld, job: Job) -> dict[str, list[str]]:
    """Every blob and row sitelens keeps that names the job or its photo, by where it is kept."""
    tables, prefix = world.tables, world.prefix

    def rows(table: str, query: str, **parameters: str) -> list[str]:
        found = tables.get_table_client(prefix + table).query_entities(query, parameters=parameters)
        return [f"{row['PartitionKey']}|{row['RowKey']}" for row in found]

    def blobs(container: str, starts: str) -> list[str]:
        listed = world.blobs.get_container_client(container).list_blobs(name_starts_with=starts, include=["snapshots"])
        return [f"{container}/{blob.name}@{blob.snapshot}" for blob in listed]

    event = ids.event_id(job.id, job.state.value)
    return {
        "blobs": blobs(PHOTOS, job.blob_name) + blobs(QUARANTINE, job.blob_name) + blobs(DERIVED, f"{job.id}/")
        + blobs(RESULTS, f"{job.id}/"),
        "jobs": rows("jobs", "PartitionKey eq @j or job_id eq @j or RowKey eq @j or RowKey eq @f", j=job.id,
                     f=f"follower~{job.id}"),
        "feedback": rows("jobfeedback", "PartitionKey eq @j", j=job.id),
        "uploads": rows("uploads", "BlobName eq @name", name=job.blob_name),
        "events": rows("webhookevents", "PartitionKey eq @e", e=event),
        "deliveries": rows("webhookdeliveries", "PartitionKey eq @e", e=event),
        "delivery index": rows("webhookdeliveryindex", "EventId eq @e", e=event),
    }  # fmt: skip


def erase(world: RealWorld, connection: str, job_id: str, *options: str) -> int:
    return cli.main(["erase", job_id, "--connection-string", connection, "--table-prefix", world.prefix, *options])


def test_erase_removes_every_blob_and_row_of_the_photos_jobs_and_nothing_else(real_world, storage_connection, capsys):
    world, data = real_world, photo(7)
    world.outbox.webhooks.subscribe("https://127.0.0.1/hook", world.site, None)
    owner = upload(world, 1, data)
    listed = upload(world, 2, data)  # the owner still runs: listed as its follower
    assert listed.cached_from == owner.id and listed.state is JobState.QUEUED
    owner = succeed(world, owner)
    late = upload(world, 3, data)  # the owner is done: reuses its result at once, listed nowhere
    assert late.state is JobState.SUCCEEDED and late.cached_from == owner.id
    other = succeed(world, upload(world, 4, photo(8)))
    for job in (owner, other):
        world.blobs.get_blob_client(RESULTS, ids.overlay_path(job.id)).upload_blob(b"overlay", overwrite=True)
        world.store.add_feedback(job.id, {"text": "PUMP 1"}, T0)
        TableReservationStore(world.tables, prefix=world.prefix).reserve(
            Reservation(world.site, job.device, job.photo_id, "jpg", job.blob_name, T0))  # fmt: skip
        # What a device's create-only SAS can leave beside its photo, and the copy a rejected version under the
        # name leaves in quarantine.
        world.blobs.get_blob_client(PHOTOS, job.blob_name).create_snapshot()
        world.blobs.get_blob_client(QUARANTINE, job.blob_name).upload_blob(b"rejected version", overwrite=True)
    jobs = [world.store.get(job.id) for job in (owner, listed, late)]
    before = {job.id: kept_by(world, job) for job in [*jobs, other]}
    assert all(before[owner.id][where] for where in before[owner.id])  # the photo's data is everywhere looked
    assert before[late.id]["events"] and before[late.id]["delivery index"]
    other_before = before[other.id]

    assert erase(world, storage_connection, late.id) == 2  # not on a terminal, and no --yes: refused
    assert "not on a terminal" in capsys.readouterr().err
    assert erase(world, storage_connection, late.id, "--dry-run") == 0
    assert {job.id: kept_by(world, job) for job in [*jobs, other]} == before
    listing = capsys.readouterr().out
    assert all(job.id in listing for job in jobs) and other.id not in listing

    assert erase(world, storage_connection, late.id, "--yes") == 0
    summary = capsys.readouterr().out
    counts = [line.split(None, 1) for line in summary.split("erased:\n")[1].splitlines()]
    # Three originals and a quarantine copy; each job's task input, the owner's result and overlay (its followers
    # hold its paths); an event and a delivery each; the owner's feedback and reservation; its claim and follower.
    assert [int(count) for count, _ in counts] == [3, 4, 5, 6, 1, 1, 2]
    for job in jobs:
        assert kept_by(world, job) == {where: [] for where in before[job.id]}
        with pytest.raises(NotFound):
            world.store.get(job.id)
    content = f"content~{world.site}~{owner.content_sha256}~"
    claims = world.tables.get_table_client(world.prefix + "jobs").query_entities(
        "PartitionKey ge @low and PartitionKey lt @high", parameters={"low": content, "high": content + "~"}
    )
    assert list(claims) == []
    assert kept_by(world, other) == other_before
    assert world.store.get(other.id).state is JobState.SUCCEEDED
    assert json.loads(world.blobs.get_blob_client(RESULTS, ids.result_path(other.id)).download_blob().readall())

    assert erase(world, storage_connection, late.id, "--yes") == 0  # again: nothing is left to erase
    assert "nothing to erase" in capsys.readouterr().out


def test_storage_that_does_not_answer_is_a_failure_not_a_traceback(unique, capsys):
    dead = dev_storage_connection_string(ports=(9, 9, 9))  # the discard port: nothing listens there
    command = ["erase", "j_" + "a" * 26, "--connection-string", dead, "--table-prefix", f"t{unique}", "--yes"]
    assert cli.main(command) == 1
    assert "storage failed" in capsys.readouterr().err


def test_a_wrong_table_prefix_is_refused_not_reported_erased_and_creates_no_tables(real_world, storage_connection,
                                                                                   capsys):  # fmt: skip
    world = real_world
    job = succeed(world, upload(world, 1, photo(7)))
    wrong = f"{world.prefix}x"
    command = ["erase", job.id, "--connection-string", storage_connection, "--table-prefix", wrong, "--yes"]
    assert cli.main(command) == 2
    assert f"no '{wrong}jobs' table" in capsys.readouterr().err
    assert not [t.name for t in world.tables.list_tables() if t.name.startswith(wrong)]
    assert world.store.get(job.id).state is JobState.SUCCEEDED


def test_jobs_that_came_in_while_the_operator_was_asked_refuse_the_erasure(real_world, storage_connection, capsys):
    world, data = real_world, photo(7)
    owner = succeed(world, upload(world, 1, data))

    def yes_but_meanwhile_a_copy_arrives(_question: str) -> str:
        upload(world, 2, data)  # the same bytes: a job that holds the image too
        return "y"

    argv = ["erase", owner.id, "--connection-string", storage_connection, "--table-prefix", world.prefix]
    args = cli.build_parser(argv).parse_args(argv)
    assert erase_command.run(args, ask=yes_but_meanwhile_a_copy_arrives) == 2
    said = capsys.readouterr()
    assert "changed while you were asked" in said.err and "changed" not in said.out
    assert kept_by(world, world.store.get(owner.id))["blobs"]  # nothing erased
