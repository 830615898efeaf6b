"""Model routing: `models/routing.json` splits traffic between model versions by weight, per site.

    {"routes": [{"model": "ocr/ppocrv4", "weight": 90}, {"model": "ocr/ppocrv4-int8", "weight": 10}],
     "sites": {"north-yard": [{"model": "pipe-defects/1.0.0", "weight": 50},
                              {"model": "pipe-defects/1.1.0", "weight": 50}]}}

A site listed under "sites" uses its own routes; every other site uses "routes". A site whose routes are
all at weight 0 falls back to "routes" too, so setting a weight to 0 is a rollback, never an outage.
The choice is a stable hash of the job id, recorded on the job before the job's content claim and Batch task
name it (shared/jobs/ingestion.py): every later pass takes the recorded model, so a redelivered photo always
lands on the same model even where routing changed meanwhile or another instance caches another copy of it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from batch_tasks.artifacts import is_model_id
from shared.errors import InvalidInput

SITE_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")  # a site as in a photo's blob name; used with fullmatch
KEYS = frozenset({"routes", "sites"})
Route = tuple[str, int]  # (model "name/version", weight)


@dataclass(frozen=True)
class RoutingTable:
    """A parsed routing.json: the routes for every site, and the sites with routes of their own."""

    routes: tuple[Route, ...] = ()
    sites: Mapping[str, tuple[Route, ...]] = field(default_factory=dict)

    def for_site(self, site: str | None) -> list[Route]:
        """The site's own routes while any of them carries weight, else the routes for every site."""
        own = self.sites.get(site, ()) if site else ()
        return list(own) if any(w > 0 for _, w in own) else list(self.routes)

    def to_document(self) -> dict[str, Any]:
        def listed(routes: Sequence[Route]) -> list[dict[str, Any]]:
            return [{"model": m, "weight": w} for m, w in routes]

        doc: dict[str, Any] = {"routes": listed(self.routes)}
        if self.sites:
            doc["sites"] = {site: listed(routes) for site, routes in sorted(self.sites.items())}
        return doc

    def to_bytes(self) -> bytes:
        """The document as stored; parsed back first, so an edit never writes what ingestion would refuse."""
        data = (json.dumps(self.to_document(), indent=2) + "\n").encode()
        parse_table(data)
        return data

    def models(self) -> set[str]:
        return {m for m, _ in self.routes} | {m for routes in self.sites.values() for m, _ in routes}


def _bad(message: str) -> InvalidInput:
    return InvalidInput(f"routing.json: {message}", reason="bad_routing")


def _routes(value: object, where: str) -> tuple[Route, ...]:
    if not isinstance(value, list):
        raise _bad(f"{where} must be a list of {{model, weight}} objects")
    try:
        parsed = tuple((r["model"], r["weight"]) for r in value)
    except (KeyError, TypeError) as exc:
        raise _bad(f"{where}: every route needs 'model' and 'weight' ({exc!r})") from exc
    for model, weight in parsed:
        if not isinstance(model, str) or not is_model_id(model):
            raise _bad(f"{where}: model {model!r} is not a 'name/version' id")
        if isinstance(weight, bool) or not isinstance(weight, int) or weight < 0:
            raise _bad(f"{where}: model {model} has weight {weight!r}, not a whole number >= 0")
    models = [m for m, _ in parsed]
    if len(set(models)) != len(models):
        raise _bad(f"{where} lists a model twice")
    return parsed


def parse_table(document: bytes) -> RoutingTable:
    """A routing.json; raises InvalidInput (reason `bad_routing`) with what is wrong."""
    try:
        doc = json.loads(document)
    except ValueError as exc:
        raise _bad(f"not JSON ({exc})") from exc
    if not isinstance(doc, dict) or "routes" not in doc:
        raise _bad("must be an object with a 'routes' list")
    if unknown := sorted(set(doc) - KEYS):
        raise _bad(f"unknown keys {unknown} (expected 'routes' and optionally 'sites')")
    routes = _routes(doc["routes"], "routes")
    if routes and sum(w for _, w in routes) == 0:
        raise _bad("every weight in 'routes' is zero")
    sites_doc = doc.get("sites", {})
    if not isinstance(sites_doc, dict):
        raise _bad("'sites' must map site names to lists of routes")
    sites: dict[str, tuple[Route, ...]] = {}
    for site, site_routes in sites_doc.items():
        if not SITE_KEY.fullmatch(site):
            raise _bad(f"site {site!r} is not a site name")
        sites[site] = _routes(site_routes, f"sites[{site}]")
    return RoutingTable(routes, sites)


def parse(document: bytes) -> list[Route]:
    """The routes for every site (the "routes" list) of a routing.json; raises as `parse_table`."""
    return list(parse_table(document).routes)


def with_route(table: RoutingTable, site: str | None, model: str, weight: int) -> RoutingTable:
    """`table` with `model` at `weight` for `site` (None: the routes for every site), added or updated."""
    if not is_model_id(model):
        raise _bad(f"model {model!r} is not a 'name/version' id")
    if site is not None and not SITE_KEY.fullmatch(site):
        raise _bad(f"site {site!r} is not a site name")
    current = table.routes if site is None else table.sites.get(site, ())
    updated = tuple((m, weight if m == model else w) for m, w in current)
    if model not in {m for m, _ in current}:
        updated += ((model, weight),)
    return _replace(table, site, updated)


def without_route(table: RoutingTable, site: str | None, model: str) -> RoutingTable:
    """`table` less `model`'s route for `site`; a site left with no routes is dropped. KeyError if absent."""
    current = table.routes if site is None else table.sites.get(site, ())
    if model not in {m for m, _ in current}:
        raise KeyError(f"{model} has no route for {site or 'every site'}")
    return _replace(table, site, tuple((m, w) for m, w in current if m != model))


def _replace(table: RoutingTable, site: str | None, routes: tuple[Route, ...]) -> RoutingTable:
    if site is None:
        return RoutingTable(routes, table.sites)
    sites = {s: r for s, r in table.sites.items() if s != site}
    if routes:
        sites[site] = routes
    return RoutingTable(table.routes, sites)


def choose(job_id: str, routes: Sequence[Route], default: str) -> str:
    """The model for `job_id`: a point in [0, total weight) from sha256(job id), walked along the routes."""
    live = [(m, w) for m, w in routes if w > 0]
    if not live:
        return default
    total = sum(w for _, w in live)
    point = int.from_bytes(hashlib.sha256(job_id.encode()).digest()[:8], "big") % total
    for model, weight in live:
        if point < weight:
            return model
        point -= weight
    raise AssertionError("unreachable: point < total")
