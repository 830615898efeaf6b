"""`sitelens models route` warns when the routing table puts more models in rotation than a node keeps loaded
by default: every node serves every site, so each model in rotation comes round on each node."""

from __future__ import annotations

from batch_tasks.node.settings import DEFAULT_MODEL_CACHE, NodeSettings
from shared.jobs import routing
from sitelens.models_route import cache_warning, models_in_rotation

DEFAULT = "ocr/ppocrv4"


def table(document: bytes) -> routing.RoutingTable:
    return routing.parse_table(document)


# docs/models.md's example: the default OCR model for every site, an A/B pair of pipe-defects for one site.
AB = table(
    b'{"routes": [{"model": "ocr/ppocrv4", "weight": 100}], "sites": {"north-yard": ['
    b'{"model": "pipe-defects/1.0.0", "weight": 90}, {"model": "pipe-defects/1.1.0", "weight": 10}]}}'
)


def test_the_models_in_rotation_are_every_sites_weighted_routes_and_the_common_ones():
    assert models_in_rotation(AB, DEFAULT) == [DEFAULT, "pipe-defects/1.0.0", "pipe-defects/1.1.0"]


def test_the_default_model_counts_only_where_photos_can_reach_it():
    site_only = table(b'{"routes": [], "sites": {"north-yard": [{"model": "pipe-defects/1.0.0", "weight": 1}]}}')
    assert models_in_rotation(site_only, DEFAULT) == [DEFAULT, "pipe-defects/1.0.0"]  # every other site
    common = table(b'{"routes": [{"model": "ocr/ppocrv4-int8", "weight": 1}]}')
    assert models_in_rotation(common, DEFAULT) == ["ocr/ppocrv4-int8"]


def test_a_route_at_weight_zero_is_out_of_rotation_and_its_site_falls_back_to_the_common_routes():
    rolled_back = routing.with_route(routing.with_route(AB, "north-yard", "pipe-defects/1.1.0", 0),
                                     "north-yard", "pipe-defects/1.0.0", 0)  # fmt: skip
    assert models_in_rotation(rolled_back, DEFAULT) == [DEFAULT]


def test_the_default_cache_holds_the_documented_ab_example_and_the_warning_comes_one_model_later():
    assert NodeSettings.from_env({"AZ_BATCH_NODE_SHARED_DIR": "/n"}).model_cache == DEFAULT_MODEL_CACHE
    assert cache_warning(AB) is None
    assert cache_warning(AB, cache=2) is not None
    crowded = AB
    for version in ("2.0.0", "2.1.0"):
        crowded = routing.with_route(crowded, "east-gate", f"pipe-defects/{version}", 50)
    assert len(models_in_rotation(crowded, DEFAULT)) == DEFAULT_MODEL_CACHE + 1
    warning = cache_warning(crowded)
    assert warning is not None
    assert f"new photos go to {DEFAULT_MODEL_CACHE + 1} models" in warning
    assert f"SITELENS_MODEL_CACHE: '{DEFAULT_MODEL_CACHE + 1}' to nodeSettings" in warning
