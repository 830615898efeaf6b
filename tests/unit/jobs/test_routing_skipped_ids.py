"""A stored route to an id only an earlier release took (a name or version ending in '.') is skipped, not the
whole document.

An earlier release took ids ending in '.' (`pipe-defects/1.0.`, a rollback entry at weight 0, say); the id rule
now refuses them, since Azure Blob storage drops a trailing dot. Refusing the document for one such route left
every instance started since with no routes, so every photo of every site waited until `timed_out`.
"""

from __future__ import annotations

import json
import logging

import pytest

from shared.errors import InvalidInput
from shared.jobs import routing

UPGRADED = {
    "routes": [{"model": "ocr/ppocrv4", "weight": 100}],
    "sites": {
        "north-yard": [{"model": "pipe-defects/1.0.", "weight": 0}, {"model": "pipe-defects/1.1.0", "weight": 100}]
    },
}


def stored(doc: object) -> routing.RoutingTable:
    return routing.parse_table(json.dumps(doc).encode())


def test_one_bad_id_among_good_ones_leaves_the_good_ones_routed_and_is_logged_once_by_site_and_id(caplog):
    with caplog.at_level(logging.WARNING, logger="shared.jobs.routing"):
        t = stored(UPGRADED)
    assert t.for_site("north-yard") == [("pipe-defects/1.1.0", 100)]
    assert t.for_site("south-yard") == [("ocr/ppocrv4", 100)]
    assert t.skipped == (("north-yard", "pipe-defects/1.0.", 0),)
    [record] = [r for r in caplog.records if r.name == "shared.jobs.routing"]
    assert record.levelno == logging.WARNING
    assert "site north-yard: 'pipe-defects/1.0.' weight 0" in record.getMessage()


def test_a_caller_that_shows_the_skipped_routes_itself_reads_them_without_the_log(caplog):
    with caplog.at_level(logging.WARNING, logger="shared.jobs.routing"):
        t = routing.parse_table(json.dumps(UPGRADED).encode(), log_skipped=False)
    assert t.skipped and not caplog.records


def test_a_site_left_with_no_route_or_only_weight_zero_uses_the_common_routes_and_they_the_default_model():
    t = stored({
        "routes": [{"model": "ocr/1.0.", "weight": 100}, {"model": "ocr/ppocrv4-int8", "weight": 0}],
        "sites": {"north-yard": [{"model": "pipe-defects/1.0.", "weight": 100}],
                  "south-yard": [{"model": "pipe/2.", "weight": 100}, {"model": "pipe/1.1.0", "weight": 0}]},
    })  # fmt: skip
    assert "north-yard" not in t.sites  # as a site with no entry of its own
    assert t.for_site("north-yard") == t.for_site("south-yard") == t.for_site(None) == [("ocr/ppocrv4-int8", 0)]
    assert routing.choose("job-1", t.for_site("north-yard"), "ocr/ppocrv4") == "ocr/ppocrv4"
    assert len(t.skipped) == 3


def test_what_is_written_back_leaves_the_skipped_routes_out():
    t = routing.with_route(stored(UPGRADED), "north-yard", "pipe-defects/1.1.0", 90)
    assert t.skipped  # still known, so the edit can say what it dropped
    assert b"1.0." not in t.to_bytes()
    assert routing.parse_table(t.to_bytes()).for_site("north-yard") == [("pipe-defects/1.1.0", 90)]


def test_a_skipped_route_can_be_removed_and_a_new_bad_id_is_refused():
    t = routing.without_route(stored(UPGRADED), "north-yard", "pipe-defects/1.0.")
    assert t.skipped == () and t.for_site("north-yard") == [("pipe-defects/1.1.0", 100)]
    with pytest.raises(KeyError):
        routing.without_route(stored(UPGRADED), "south-yard", "pipe-defects/1.0.")  # another site's
    with pytest.raises(InvalidInput):
        routing.with_route(t, "north-yard", "pipe-defects/1.2.", 10)


@pytest.mark.parametrize(
    "doc",
    [
        {"routes": [{"model": "ocr/1.0.", "weight": "100"}]},  # the weight still has to be a whole number
        {"routes": [{"model": "ocr/1.0.", "weight": 1}, {"model": "ocr/1.0.", "weight": 2}]},
        {"routes": [{"model": "ocr/1.0.", "weight": 0}]},  # every common weight zero, as written
        {"routes": [], "sites": {"north yard": [{"model": "ocr/1.0.", "weight": 1}]}},
        {"routes": [{"model": "../x", "weight": 1}, {"model": "ocr/ppocrv4", "weight": 1}]},  # no release took it
        {"routes": [{"model": "ocr/1.0.\n", "weight": 1}]},
    ],
)
def test_a_document_of_the_wrong_shape_or_another_bad_id_is_still_refused_whole(doc):
    with pytest.raises(InvalidInput) as refused:
        stored(doc)
    assert refused.value.reason == "bad_routing"
