"""`sitelens models route` warns when the routing table puts more models in rotation than a node keeps loaded
by default: every node serves every site, so each model in rotation comes round on each node."""

from __future__ import annotations

import argparse

from batch_tasks.node.settings import DEFAULT_MODEL_CACHE, NodeSettings
from shared.jobs import routing
from sitelens import cli
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
    assert cache_warning(AB, DEFAULT) is None
    assert cache_warning(AB, DEFAULT, cache=2) is not None
    crowded = AB
    for version in ("2.0.0", "2.1.0"):
        crowded = routing.with_route(crowded, "east-gate", f"pipe-defects/{version}", 50)
    assert len(models_in_rotation(crowded, DEFAULT)) == DEFAULT_MODEL_CACHE + 1
    warning = cache_warning(crowded, DEFAULT)
    assert warning is not None
    assert f"new photos go to {DEFAULT_MODEL_CACHE + 1} models" in warning
    assert f"SITELENS_MODEL_CACHE: '{DEFAULT_MODEL_CACHE + 1}' to nodeSettings" in warning


# Every site has routes of its own and the common list is empty: sites without their own go to the default model.
SITES_ONLY = table(
    b'{"routes": [], "sites": {"north-yard": [{"model": "ocr/ppocrv4", "weight": 50}, '
    b'{"model": "pipe-defects/1.0.0", "weight": 50}], "south-yard": [{"model": "pipe-defects/1.1.0", "weight": 50}, '
    b'{"model": "pipe-defects/1.2.0", "weight": 50}]}}'
)


def test_the_deployments_default_model_is_counted_where_the_template_default_would_hide_it():
    assert cache_warning(SITES_ONLY, DEFAULT) is None  # ocr/ppocrv4 is already one of the four
    warning = cache_warning(SITES_ONLY, "ocr/ppocrv4-int8")
    assert warning is not None and f"new photos go to {DEFAULT_MODEL_CACHE + 1} models (ocr/ppocrv4-int8, " in warning


def test_with_the_default_model_not_known_the_count_is_a_floor_and_the_warning_still_comes():
    warning = cache_warning(SITES_ONLY, None)
    assert warning is not None
    assert f"at least {DEFAULT_MODEL_CACHE} models (ocr/ppocrv4, pipe-defects/1.0.0, " in warning
    assert f"and the deployment's default model, {DEFAULT_MODEL_CACHE + 1} unless it is one of those" in warning
    assert f"SITELENS_MODEL_CACHE: '{DEFAULT_MODEL_CACHE + 1}' to nodeSettings" in warning
    assert cache_warning(AB, None) is None  # the common routes carry weight: the default model is reached by no photo


def test_models_route_takes_the_default_model_from_the_flag_else_the_environment(monkeypatch):
    def parsed(*flags: str) -> argparse.Namespace:
        argv = ["models", "route", "--model", "pipe-defects:1.0.0", *flags]
        return cli.build_parser(argv).parse_args(argv)

    monkeypatch.delenv("SITELENS_DEFAULT_MODEL", raising=False)
    assert parsed().default_model is None
    monkeypatch.setenv("SITELENS_DEFAULT_MODEL", "ocr/ppocrv4-int8")
    assert parsed().default_model == "ocr/ppocrv4-int8"
    assert parsed("--default-model", "ocr:ppocrv4").default_model == DEFAULT
