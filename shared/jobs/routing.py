"""Model routing: `models/routing.json` splits traffic between model versions by weight, per site.

    {"routes": [{"model": "ocr/ppocrv4", "weight": 90}, {"model": "ocr/ppocrv4-int8", "weight": 10}],
     "sites": {"north-yard": [{"model": "pipe-defects/1.0.0", "weight": 50},
                              {"model": "pipe-defects/1.1.0", "weight": 50}]}}

A site listed under "sites" uses its own routes; every other site uses "routes". A site whose routes are
all at weight 0 falls back to "routes" too, so setting a weight to 0 is a rollback, never an outage.
The choice is a stable hash of the job id, recorded on the job before the job's content claim and Batch task
name it (shared/jobs/ingestion.py): every later pass takes the recorded model, so a redelivered photo always
lands on the same model even where routing changed meanwhile or another instance caches another copy of it.

A route to an id an earlier release took but the id rule now refuses (one ending in '.', which Azure Blob storage
cannot hold) is skipped on reading, kept in `skipped` and logged, and the rest of the document stands: refusing
the whole document for it left every instance started since without routes. It is never served and never
written back. Any other model that is not an id, or a document of the wrong shape, is still refused whole.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from batch_tasks.artifacts import is_model_id
from shared.errors import InvalidInput

SITE_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")  # a site as in a photo's blob name; used with fullmatch
KEYS = frozenset({"routes", "sites"})
Route = tuple[str, int]  # (model "name/version", weight)
Skipped = tuple[str | None, str, int]  # (site, None for the routes for every site; model as stored; weight)
# The id rule of releases before a segment had to end in a letter, digit, `_` or `-` (batch_tasks/artifacts.py):
# what `sitelens models route` of such a release may have written into routing.json.
EARLIER_SEGMENT = r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}"
EARLIER_MODEL_ID = re.compile(rf"{EARLIER_SEGMENT}/{EARLIER_SEGMENT}")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RoutingTable:
    """A parsed routing.json: the routes for every site, and the sites with routes of their own."""

    routes: tuple[Route, ...] = ()
    sites: Mapping[str, tuple[Route, ...]] = field(default_factory=dict)
    skipped: tuple[Skipped, ...] = ()  # routes read to an id an earlier release took: never served, never written

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


def _routes(value: object, where: str, site: str | None) -> tuple[tuple[Route, ...], tuple[Skipped, ...]]:
    """The routes kept, and those skipped (an id only an earlier release took); raises on anything else wrong."""
    if not isinstance(value, list):
        raise _bad(f"{where} must be a list of {{model, weight}} objects")
    try:
        parsed = tuple((r["model"], r["weight"]) for r in value)
    except (KeyError, TypeError) as exc:
        raise _bad(f"{where}: every route needs 'model' and 'weight' ({exc!r})") from exc
    for model, weight in parsed:
        if not isinstance(model, str) or not (is_model_id(model) or EARLIER_MODEL_ID.fullmatch(model)):
            raise _bad(f"{where}: model {model!r} is not a 'name/version' id")
        if isinstance(weight, bool) or not isinstance(weight, int) or weight < 0:
            raise _bad(f"{where}: model {model} has weight {weight!r}, not a whole number >= 0")
    models = [m for m, _ in parsed]
    if len(set(models)) != len(models):
        raise _bad(f"{where} lists a model twice")
    kept = tuple((m, w) for m, w in parsed if is_model_id(m))
    return kept, tuple((site, m, w) for m, w in parsed if not is_model_id(m))


def parse_table(document: bytes, *, log_skipped: bool = True) -> RoutingTable:
    """A routing.json; raises InvalidInput (reason `bad_routing`) with what is wrong with its shape.

    Routes to an id only an earlier release took are left out (in `skipped`) and, unless `log_skipped` is
    False (a caller that shows them itself), logged in one WARNING: once per read, and ingestion reads the document at
    most once a minute (shared/adapters/azure_photo_store.py), so not once per photo."""
    try:
        doc = json.loads(document)
    except ValueError as exc:
        raise _bad(f"not JSON ({exc})") from exc
    if not isinstance(doc, dict) or "routes" not in doc:
        raise _bad("must be an object with a 'routes' list")
    if unknown := sorted(set(doc) - KEYS):
        raise _bad(f"unknown keys {unknown} (expected 'routes' and optionally 'sites')")
    routes, skipped = _routes(doc["routes"], "routes", None)
    if (routes or skipped) and sum(w for _, w in routes) + sum(w for _, _, w in skipped) == 0:
        # Checked as written, skipped routes included, so a document an earlier release took is not refused for
        # them; left with no weight, the common routes send new photos to the default model (`choose`).
        raise _bad("every weight in 'routes' is zero")
    sites_doc = doc.get("sites", {})
    if not isinstance(sites_doc, dict):
        raise _bad("'sites' must map site names to lists of routes")
    sites: dict[str, tuple[Route, ...]] = {}
    for site, site_doc in sites_doc.items():
        if not SITE_KEY.fullmatch(site):
            raise _bad(f"site {site!r} is not a site name")
        site_routes, site_skipped = _routes(site_doc, f"sites[{site}]", site)
        skipped += site_skipped
        if site_routes or not site_skipped:  # a site left with none uses the common routes, as with no entry
            sites[site] = site_routes
    if skipped and log_skipped:
        log.warning("models/routing.json: ignoring %d route(s) whose model name or version ends in '.', no model "
                    "id now (never served; the next `sitelens models route` drops them from the document): %s",
                    len(skipped), describe_skipped(skipped))  # fmt: skip
    return RoutingTable(routes, sites, skipped)


def describe_skipped(skipped: Sequence[Skipped]) -> str:
    """`site north-yard: 'pipe-defects/1.0.' weight 0; …`: the model quoted, so a stray character shows."""
    return "; ".join(f"{'site ' + site if site else 'every site'}: {model!r} weight {w}" for site, model, w in skipped)


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
    """`table` less `model`'s route for `site`, a skipped one too; a site left with no routes is dropped.
    KeyError if absent."""
    current = table.routes if site is None else table.sites.get(site, ())
    if model in {m for m, _ in current}:
        return _replace(table, site, tuple((m, w) for m, w in current if m != model))
    if (site, model) in {(s, m) for s, m, _ in table.skipped}:
        return replace(table, skipped=tuple(e for e in table.skipped if (e[0], e[1]) != (site, model)))
    raise KeyError(f"{model} has no route for {site or 'every site'}")


def _replace(table: RoutingTable, site: str | None, routes: tuple[Route, ...]) -> RoutingTable:
    if site is None:
        return replace(table, routes=routes)
    sites = {s: r for s, r in table.sites.items() if s != site}
    if routes:
        sites[site] = routes
    return replace(table, sites=sites)


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
