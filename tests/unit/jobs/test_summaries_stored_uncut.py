"""A summary stored by a release that kept each string whole is cut where it is shown (shared/jobs/result_kinds.py,
`with_kind`): in the status document and the webhook event, of the job that owns it and of a job that reuses its
result after the upgrade, for as long as results are kept. Cutting is idempotent, and a summary it cannot read is
shown as it is stored."""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

import pytest

from shared.jobs import document, ids, result_kinds
from shared.jobs.api import JobsApi
from shared.jobs.models import JobState
from tests.unit.jobs.test_document_kinds import JOB
from tests.unit.jobs.test_pipeline import World, photo

LONG = "A" * 300  # past MAX_SHOWN_CHARS, well inside what a Table property held for the earlier release
EMOJI = "\U0001f600" * 150  # 150 characters, 300 UTF-16 code units: an earlier cut by characters kept it whole


def stored_before_the_cut(kind: str, long: str = LONG, emoji: str = EMOJI) -> dict[str, Any]:
    """A summary of `kind` as an earlier release stored it: the first string long, the second short."""
    by_kind: dict[str, dict[str, Any]] = {
        "ocr": {"kind": "ocr", "lines": 2, "text": [long, "PUMP 1"], "width": 640, "height": 480},
        "classify": {"kind": "classify", "width": 640, "height": 480,
                     "labels": [{"label": long, "score": 0.9}, {"label": "valve", "score": 0.1}]},
        "detect": {"kind": "detect", "width": 640, "height": 480, "boxes": 2,
                   "best": [{"label": long, "class_id": 0, "score": 0.9, "box": [0.0, 0.0, 9.0, 9.0]},
                            {"label": "gauge", "class_id": 1, "score": 0.8, "box": [1.0, 1.0, 5.0, 5.0]}]},
        "unknown": {"kind": "unknown", "schema": emoji},
        "before kinds": {"lines": 2, "text": [emoji, "PUMP 1"], "width": 640, "height": 480},
    }  # fmt: skip
    return by_kind[kind]


def cut_by_hand(kind: str) -> dict[str, Any]:
    """What the status document shows of `stored_before_the_cut(kind)`: its kind named, each string 200 UTF-16 code
    units at most (an emoji is two)."""
    return {"kind": "ocr", **stored_before_the_cut(kind, "A" * 200, "\U0001f600" * 100)}


KINDS = ["ocr", "classify", "detect", "unknown", "before kinds"]


@pytest.fixture
def world() -> World:
    return World()


@pytest.mark.parametrize("kind", KINDS)
def test_a_summary_stored_whole_is_shown_cut_and_otherwise_unchanged(kind: str) -> None:
    stored = stored_before_the_cut(kind)
    kept = copy.deepcopy(stored)
    shown = result_kinds.with_kind(stored)
    assert shown == cut_by_hand(kind)  # the long string cut, a short one and every other member kept
    assert stored == kept  # the stored summary itself is not touched
    assert result_kinds.with_kind(shown) == shown  # cutting again changes nothing


def test_a_summary_this_release_wrote_is_shown_as_stored() -> None:
    for result in ({"result": {"lines": [{"text": LONG}], "width": 1, "height": 1}},
                   {"schema": "sitelens.classify.result/1", "result": {"labels": [{"label": EMOJI, "score": 1.0}]}},
                   {"schema": "sitelens.a-later-kind.result/1" + LONG}):  # fmt: skip
        summary = result_kinds.summarise(result)
        assert result_kinds.with_kind(summary) == summary


@pytest.mark.parametrize(
    "stored",
    [
        {"kind": "ocr", "text": LONG},  # not a list
        {"kind": "ocr", "text": [None, 5, ["x"]]},  # items that are not text
        {"kind": "classify", "labels": ["valve", {"score": 1.0}, {"label": 5}, None]},
        {"kind": "detect", "boxes": 3, "best": {"label": LONG}},
        {"kind": "detect", "boxes": 3},  # no `best`: none is added
        {"kind": "unknown", "schema": None},
        {"kind": "segment", "text": [LONG]},  # a kind this release does not know: shown as stored, as before
        {"kind": ["ocr"], "text": [LONG]},
        {},
    ],
)
def test_a_summary_the_cut_cannot_read_is_shown_as_stored(stored: dict[str, Any]) -> None:
    kept = copy.deepcopy(stored)
    assert result_kinds.with_kind(stored) == (stored if "kind" in stored else {"kind": "ocr"})
    assert stored == kept


def test_mixed_items_have_their_strings_cut_and_the_rest_kept() -> None:
    stored = {"kind": "classify", "labels": [{"label": LONG, "score": 0.5, "extra": 1}, "valve", {"label": 7}]}
    shown = result_kinds.with_kind(stored)
    assert shown["labels"] == [{"label": "A" * 200, "score": 0.5, "extra": 1}, "valve", {"label": 7}]


@pytest.mark.parametrize("kind", ["ocr", "classify", "detect"])
def test_an_owner_stored_whole_and_a_job_reusing_it_after_the_upgrade_show_it_cut(
    world: World, api: JobsApi, kind: str
) -> None:
    data = photo(1)
    owner = world.ingestion.ingest(world.upload(1, data))
    assert owner is not None
    world.completion.handle(world.finish_task(owner.id))
    done = world.store.get(owner.id)
    assert done.state is JobState.SUCCEEDED
    world.store.update(replace(done, summary=stored_before_the_cut(kind)))  # the row as the earlier release left it

    follower = world.ingestion.ingest(world.upload(2, data))  # after the upgrade: reuses the owner's result at once
    assert follower is not None and follower.state is JobState.SUCCEEDED and follower.cached_from == owner.id

    cut = cut_by_hand(kind)
    for job_id in (owner.id, follower.id):
        reply = api.handle("get", {"id": job_id}, {}, {}, b"")
        assert reply.status == 200 and reply.body is not None
        assert reply.body["result"]["summary"] == cut
        assert JOB.is_valid(reply.body)  # openapi.json's maxLength holds
    _, event = world.outbox.events[ids.event_id(follower.id, JobState.SUCCEEDED)]  # the follower's webhook event
    assert event["result"]["summary"] == cut
    assert document.public(world.store.get(follower.id))["result"]["summary"] == cut
