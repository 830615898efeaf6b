"""The status API's ETag: one valid entity-tag whatever form the row's own version has, compared weakly, and never
a 304 that leaves a client holding result links that expire sooner than `LINK_TTL` from that answer."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest

from shared.http_reply import Reply
from shared.jobs.api import LINK_WINDOW, JobsApi
from shared.jobs.document import LINK_TTL
from shared.jobs.models import Job, JobState
from tests.unit.jobs.test_pipeline import World

# RFC 9110 §8.8.3: entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE, etagc being any visible character but DQUOTE.
ENTITY_TAG = re.compile(r'(W/)?"[\x21\x23-\x7e\x80-\xff]*"')
STEP_S = 50  # a client revalidating this often crosses several windows in the loop below


@pytest.fixture
def world() -> World:
    return World()


def get(world: World, job_id: str, if_none_match: str | None = None) -> Reply:
    api = JobsApi(world.store, world.photos, retry=world.ingestion.retry, clock=world.clock)
    headers = {} if if_none_match is None else {"If-None-Match": if_none_match}
    return api.handle("get", {"id": job_id}, {}, headers, b"")


def queued(world: World) -> Job:
    job = world.ingestion.ingest(world.upload(1))
    assert job is not None and job.state is JobState.QUEUED
    return job


def succeeded(world: World) -> Job:
    job = world.completion.handle(world.finish_task(queued(world).id))
    assert job.state is JobState.SUCCEEDED
    return job


def links_expire(reply: Reply, now: datetime) -> datetime:
    """When the links of a 200 expire: the in-memory signer writes the lifetime it was asked for into each."""
    assert reply.status == 200 and reply.body is not None
    ttls = {int(link.rsplit("?ttl=", 1)[1]) for link in reply.body["result"]["links"].values()}
    assert len(ttls) == 1
    return now + timedelta(seconds=ttls.pop())


def test_the_etag_is_one_valid_entity_tag_though_the_rows_version_is_weak_and_quoted(world):
    job = queued(world)
    assert (job.etag or "").startswith('W/"datetime')  # Table storage's own form: W/"datetime'...'"
    tags = [get(world, job.id).headers["ETag"]]
    world.completion.handle(world.finish_task(job.id))
    tags.append(get(world, job.id).headers["ETag"])
    for tag, state in zip(tags, ("QUEUED", "SUCCEEDED"), strict=True):
        assert ENTITY_TAG.fullmatch(tag) and tag.startswith(f'W/"{state}-'), tag


@pytest.mark.parametrize(
    ("sent", "status"),
    [
        ("{tag}", 304),
        ("{opaque}", 304),  # the same tag without W/: weak comparison ignores it
        ("W/{opaque}", 304),  # as a cache that weakened it sends it
        ('"other", {tag}', 304),
        ('W/"other",{opaque} , "more"', 304),
        ("*", 304),
        ('"other"', 200),
        ('W/"other"', 200),
        ("", 200),
    ],
)
def test_if_none_match_is_compared_weakly_in_a_list_or_as_a_star(world, sent, status):
    job = queued(world)
    tag = get(world, job.id).headers["ETag"]
    reply = get(world, job.id, sent.format(tag=tag, opaque=tag.removeprefix("W/")))
    assert reply.status == status
    assert reply.headers["ETag"] == tag


def test_no_answer_leaves_a_client_with_links_that_expire_sooner_than_link_ttl(world):
    """A client revalidating a succeeded job every `STEP_S` for half an hour: after each answer, the links it holds
    (those of the last 200, which each 304 confirms) live at least LINK_TTL more, at most LINK_TTL + LINK_WINDOW."""
    job = succeeded(world)
    world.clock.advance(37)  # inside a window, not at its start
    first = get(world, job.id)
    etag, held_until = first.headers["ETag"], links_expire(first, world.clock())
    statuses = []
    for _ in range(int(timedelta(minutes=30).total_seconds()) // STEP_S):
        world.clock.advance(STEP_S)
        reply = get(world, job.id, etag)
        statuses.append(reply.status)
        if reply.status == 200:
            assert reply.headers["ETag"] != etag
            etag, held_until = reply.headers["ETag"], links_expire(reply, world.clock())
        assert reply.status in (200, 304) and reply.headers["ETag"] == etag
        assert LINK_TTL <= held_until - world.clock() <= LINK_TTL + LINK_WINDOW
    # 304s within a window, a 200 with new links at each of the six windows that began
    assert statuses.count(200) == 6 and statuses.count(304) == len(statuses) - 6


def test_a_jobs_answers_are_private_and_revalidated_200_and_304_alike(world):
    job = succeeded(world)
    first = get(world, job.id)
    again = get(world, job.id, first.headers["ETag"])
    assert (first.status, again.status) == (200, 304)
    for reply in (first, again):
        assert reply.headers["Cache-Control"] == "private, no-cache"
