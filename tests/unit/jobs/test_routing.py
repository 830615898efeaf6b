"""routing.json: parsing (with per-site routes), the stable weighted choice, and the pure edits."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import pytest

from batch_tasks.errors import UnknownModel
from batch_tasks.models.manifest import ManifestError, parse
from batch_tasks.models.serving import ServedModel
from batch_tasks.node.registry import Registry
from shared.errors import InvalidInput
from shared.jobs import routing
from shared.jobs.finisher import Finisher
from shared.jobs.ingestion import Ingestion
from shared.validation import Limits, QualityPolicy
from sitelens import models_route
from tests.unit.jobs.fakes import Clock, MemoryBatch, MemoryJobStore, MemoryOutbox, MemoryPhotos
from tests.unit.jobs.test_pipeline import photo

DOC = {
    "routes": [{"model": "ocr/ppocrv4", "weight": 100}],
    "sites": {
        "north-yard": [{"model": "pipe-defects/1.0.0", "weight": 50}, {"model": "pipe-defects/1.1.0", "weight": 50}],
        "south-yard": [{"model": "pipe-defects/1.0.0", "weight": 0}],
    },
}


def table(doc: object = DOC) -> routing.RoutingTable:
    return routing.parse_table(json.dumps(doc).encode())


def test_a_site_with_its_own_routes_uses_them_and_other_sites_use_the_common_routes():
    t = table()
    assert t.for_site("north-yard") == [("pipe-defects/1.0.0", 50), ("pipe-defects/1.1.0", 50)]
    assert t.for_site("east-yard") == [("ocr/ppocrv4", 100)]
    assert t.for_site(None) == [("ocr/ppocrv4", 100)]


def test_a_site_whose_routes_are_all_at_zero_falls_back_to_the_common_routes():
    assert table().for_site("south-yard") == [("ocr/ppocrv4", 100)]


def test_the_old_document_without_sites_still_parses():
    assert routing.parse(b'{"routes": [{"model": "ocr/ppocrv4", "weight": 3}]}') == [("ocr/ppocrv4", 3)]
    assert table({"routes": []}).for_site("north-yard") == []


def test_weights_split_jobs_in_proportion_and_the_choice_is_stable_per_job():
    routes = [("m/a", 90), ("m/b", 10), ("m/c", 0)]
    chosen = Counter(routing.choose(f"job-{i}", routes, "m/default") for i in range(10_000))
    assert set(chosen) == {"m/a", "m/b"}  # a weight of 0 gets nothing
    assert 8_700 < chosen["m/a"] < 9_300
    assert all(routing.choose(f"job-{i}", routes, "x/y") == routing.choose(f"job-{i}", routes, "x/y")
               for i in range(200))  # fmt: skip
    # the hash does not depend on the process (a redelivery in another worker lands on the same model)
    assert routing.choose("job-1", [("m/a", 1), ("m/b", 1)], "x/y") == "m/a"
    assert routing.choose("job-3", [("m/a", 1), ("m/b", 1)], "x/y") == "m/b"


def test_no_live_route_means_the_default_model():
    assert routing.choose("job-1", [], "ocr/ppocrv4") == "ocr/ppocrv4"
    assert routing.choose("job-1", [("m/a", 0)], "ocr/ppocrv4") == "ocr/ppocrv4"


@pytest.mark.parametrize(
    "document",
    [
        b"not json",
        b"[]",
        b'{"sites": {}}',  # no common routes
        b'{"routes": [], "site": {}}',  # a typo is not silently ignored
        b'{"routes": [{"model": "ocr/ppocrv4"}]}',
        b'{"routes": [{"model": "ocr", "weight": 1}]}',
        b'{"routes": [{"model": "ocr/ppocrv4", "weight": -1}]}',
        b'{"routes": [{"model": "ocr/ppocrv4", "weight": "10"}]}',
        b'{"routes": [{"model": "ocr/ppocrv4", "weight": true}]}',
        b'{"routes": [{"model": "ocr/ppocrv4", "weight": 0}]}',  # every common weight zero
        b'{"routes": [{"model": "a/1", "weight": 1}, {"model": "a/1", "weight": 2}]}',
        b'{"routes": [], "sites": []}',
        b'{"routes": [], "sites": {"north yard": []}}',
        b'{"routes": [], "sites": {"north-yard": {"model": "a/1"}}}',
        b'{"routes": [], "sites": {"north-yard": [{"model": "a/1", "weight": 1.5}]}}',
        b'{"routes": [{"model": "ocr/ppocrv4\\n", "weight": 1}]}',  # `$` let a trailing newline pass
        b'{"routes": [], "sites": {"north-yard\\n": [{"model": "a/1", "weight": 1}]}}',
    ],
)
def test_bad_documents_are_refused_with_reason_bad_routing(document):
    with pytest.raises(InvalidInput) as caught:
        routing.parse_table(document)
    assert caught.value.reason == "bad_routing"


def test_edits_add_update_and_remove_routes_and_round_trip():
    t = routing.with_route(routing.RoutingTable(), None, "ocr/ppocrv4", 100)
    t = routing.with_route(t, "north-yard", "pipe-defects/1.0.0", 100)
    t = routing.with_route(t, "north-yard", "pipe-defects/1.1.0", 10)
    t = routing.with_route(t, "north-yard", "pipe-defects/1.0.0", 90)  # updated in place, order kept
    assert t.for_site("north-yard") == [("pipe-defects/1.0.0", 90), ("pipe-defects/1.1.0", 10)]
    assert routing.parse_table(t.to_bytes()) == t
    t = routing.without_route(t, "north-yard", "pipe-defects/1.0.0")
    t = routing.without_route(t, "north-yard", "pipe-defects/1.1.0")
    assert "north-yard" not in t.sites  # a site with no routes left is dropped
    with pytest.raises(KeyError):
        routing.without_route(t, "north-yard", "pipe-defects/1.0.0")


def test_an_edit_that_would_leave_a_refused_document_is_refused_before_it_is_written():
    t = routing.with_route(routing.RoutingTable(), None, "ocr/ppocrv4", 0)
    with pytest.raises(InvalidInput):
        t.to_bytes()
    with pytest.raises(InvalidInput):
        routing.with_route(routing.RoutingTable(), "north yard", "ocr/ppocrv4", 1)


class SiteRoutes:
    def __init__(self, t: routing.RoutingTable) -> None:
        self.t = t

    def weights(self, site: str | None = None) -> list[tuple[str, int]]:
        return self.t.for_site(site)


def test_ingestion_routes_each_photo_by_its_site():
    clock, store, photos, batch = Clock(), MemoryJobStore(), MemoryPhotos(), MemoryBatch()
    t = table({"routes": [{"model": "ocr/ppocrv4", "weight": 1}],
               "sites": {"north-yard": [{"model": "pipe-defects/1.0.0", "weight": 1}]}})  # fmt: skip
    ingestion = Ingestion(
        store=store, photos=photos, submitter=batch, routes=SiteRoutes(t),
        finisher=Finisher(store, MemoryOutbox(), clock), clock=clock, limits=Limits(),
        policies=lambda site: QualityPolicy(), default_model="ocr/ppocrv4",
    )  # fmt: skip
    photos.add("north-yard/cam-1/2026/11/22/IMG_1.jpg", photo(1))
    photos.add("east-yard/cam-1/2026/11/22/IMG_2.jpg", photo(2))
    north = ingestion.ingest("north-yard/cam-1/2026/11/22/IMG_1.jpg")
    east = ingestion.ingest("east-yard/cam-1/2026/11/22/IMG_2.jpg")
    assert north is not None and east is not None
    assert (north.model, east.model) == ("pipe-defects/1.0.0", "ocr/ppocrv4")
    assert sorted(r.model for r in batch.tasks.values()) == ["ocr/ppocrv4", "pipe-defects/1.0.0"]


def _manifest_takes(name: str, version: str) -> bool:
    doc = {"name": name, "version": version, "task": "ocr", "license": "MIT", "attribution": "x",
           "files": {"det": {"file": "det.onnx", "sha256": "0" * 64, "bytes": 1}}}  # fmt: skip
    try:
        parse(doc)
    except ManifestError:
        return False
    return True


def _never_loaded(folder: Path) -> ServedModel:
    raise AssertionError(f"{folder} is not on this node's disk")


def _node_takes(model: str, models_dir: Path) -> bool:
    registry = Registry(models_dir, _never_loaded, capacity=1, max_batch=1, max_wait=0.0, max_queue=1)
    with pytest.raises(UnknownModel) as caught:
        registry.get(model)  # nothing on this node's disk: the question is only whether the id is one
    return "is not a model id" not in caught.value.message


def _routing_takes(model: str) -> bool:
    try:
        routing.with_route(routing.RoutingTable(), "north-yard", model, 1).to_bytes()
    except InvalidInput:
        return False
    return True


@pytest.mark.parametrize(
    ("name", "version", "valid"),
    [
        ("pipe-defects", "1.1.0", True),
        ("Pipe-Defects", "1.1.0", True),  # init and publish took it; route refused it
        ("n" * 128, "v" * 128, True),  # the manifest's limit; routing took 41
        ("valve_state", "2024.06-rc1", True),
        ("n" * 129, "1", False),
        ("pipe", "1.0\n", False),
        ("-pipe", "1", False),
        (".pipe", "1", False),
        ("pipe defects", "1", False),
        ("pipe", "1/2", False),
        ("", "1", False),
    ],
)
def test_init_publish_route_and_the_node_take_the_same_model_ids(
    tmp_path: Path, name: str, version: str, valid: bool
) -> None:
    """An id `models init` and `publish` accept was refused by `models route` (capitals, over 41 characters)."""
    model = f"{name}/{version}"
    assert _manifest_takes(name, version) is valid
    assert _routing_takes(model) is valid
    assert _node_takes(model, tmp_path) is valid
    if valid:
        assert models_route.model_id(f"{name}:{version}") == model
    else:
        with pytest.raises(argparse.ArgumentTypeError):
            models_route.model_id(f"{name}:{version}")
