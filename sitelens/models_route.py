"""`sitelens models route|routes`: edit and list `models/routing.json` in storage, safely.

An edit reads the document with its ETag, changes it (shared/jobs/routing.py: the pure edits, checked by
the same parser ingestion uses) and writes it back only if nobody wrote in between (If-Match; a new
document: If-None-Match *). A lost race re-reads and applies the change again, so two editors at once
lose no update. A route with weight may only name a published model (its `manifest.json` is in the container);
a route already there may be set to weight 0 without one, so a version routed but never published is rolled back.
Ingestion re-reads the document at most once a minute, so new photos follow an edit within a minute,
without a redeploy. An edit that leaves more models in rotation than a node keeps loaded by default
(`SITELENS_MODEL_CACHE`, which only the nodes read) is written, with a warning saying how to raise it; the
default model counts where photos reach it, named by `--default-model`, else the environment's
`SITELENS_DEFAULT_MODEL`, else not known (the app's setting may differ from the template's `ocr/ppocrv4`).
A stored route to an id an earlier release took but that is no model id now (ending in '.') is listed, can
be removed, and is dropped by every edit, which says so; a new route must name a model id.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Callable

from azure.core import MatchConditions
from azure.storage.blob import ContainerClient, ContentSettings

from batch_tasks.artifacts import is_model_id
from batch_tasks.models.publish import CONTAINER, MANIFEST, prefix
from batch_tasks.node.settings import DEFAULT_MODEL_CACHE
from shared.adapters.azure_errors import call, translated
from shared.errors import Conflict, InvalidInput, NotFound, SitelensError
from shared.jobs import routing
from sitelens import model_storage

ROUTING = "routing.json"
DEFAULT_MODEL = "SITELENS_DEFAULT_MODEL"  # the app's setting (shared/pipeline_settings.py), counted in the warning
MAX_ATTEMPTS = 20  # each lost race means another editor's write went through: progress is made every round

Change = Callable[[routing.RoutingTable], routing.RoutingTable]


class RouteRefused(ValueError):
    """The edit is refused (an unpublished model, a route that is not there); nothing was written."""


def model_reference(text: str) -> str:
    """`NAME:VERSION` (or `NAME/VERSION`) → `NAME/VERSION`, not checked against the id rule: `--remove` must
    reach a stored route whose model breaks it. A new route is checked by `set_route`."""
    name, sep, version = text.replace(":", "/", 1).partition("/")
    if not sep:
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME:VERSION (e.g. pipe-defects:1.1.0)")
    return f"{name}/{version}"


def model_id(text: str) -> str:
    """`NAME:VERSION` (or `NAME/VERSION`) → the id `NAME/VERSION`."""
    model = model_reference(text)
    if not is_model_id(model):
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME:VERSION (e.g. pipe-defects:1.1.0)")
    return model


def read_table(container: ContainerClient) -> tuple[routing.RoutingTable, str | None]:
    """The routing table and its ETag; an absent document is the empty table and no ETag."""
    blob = container.get_blob_client(ROUTING)
    try:
        with translated(ROUTING):
            download = blob.download_blob()
            data = download.readall()
    except NotFound:
        return routing.RoutingTable(), None
    return routing.parse_table(data, log_skipped=False), str(download.properties.etag)  # `describe` lists them


def write_table(container: ContainerClient, table: routing.RoutingTable, etag: str | None) -> None:
    """Write `table` only over version `etag` (None: only if there is no document); Conflict otherwise."""
    blob = container.get_blob_client(ROUTING)
    condition = (
        {"etag": etag, "match_condition": MatchConditions.IfNotModified}
        if etag
        else {"match_condition": MatchConditions.IfMissing}
    )
    call(ROUTING, blob.upload_blob, table.to_bytes(), overwrite=True,
         content_settings=ContentSettings(content_type="application/json"), **condition)  # fmt: skip


def edit(container: ContainerClient, change: Change, attempts: int = MAX_ATTEMPTS) -> routing.RoutingTable:
    """Apply `change` to the stored table with a conditional write, again from a fresh read on a lost race."""
    for _ in range(attempts):
        table, etag = read_table(container)
        updated = change(table)
        try:
            write_table(container, updated, etag)
        except Conflict:
            continue  # another editor wrote first: apply the change to what they wrote
        return updated
    raise Conflict(f"{CONTAINER}/{ROUTING} kept changing under {attempts} attempts; try again")


def published(container: ContainerClient, model: str) -> bool:
    name, version = model.split("/", 1)
    try:
        call(model, container.get_blob_client(prefix(name, version) + MANIFEST).get_blob_properties)
    except NotFound:
        return False
    return True


def set_route(container: ContainerClient, site: str | None, model: str, weight: int) -> routing.RoutingTable:
    if not is_model_id(model):
        raise RouteRefused(f"{model!r} is not a model id: NAME and VERSION are 1-128 letters, digits, '.', '_' or "
                           "'-', starting with a letter or digit and not ending in '.'")  # fmt: skip
    unpublished = f"{model} is not published (no {CONTAINER}/{model}/{MANIFEST})"
    if weight > 0 and not published(container, model):
        raise RouteRefused(f"{unpublished}: run `sitelens models publish` first")

    def change(table: routing.RoutingTable) -> routing.RoutingTable:
        # Weight 0 sends no photo to the model, so taking a route's traffic away asks for no manifest: the rollback
        # from a version routed but never published (its photos fail `unknown_model`) must not need it published.
        # A new route at 0 still does, so a mistyped version is refused rather than added beside the live route.
        if weight == 0 and model not in {m for m, _ in own_routes(table, site)} and not published(container, model):
            raise RouteRefused(f"{unpublished} and has no route for {site or 'every site'} to set to 0")
        return routing.with_route(table, site, model, weight)

    return edit(container, change)


def own_routes(table: routing.RoutingTable, site: str | None) -> tuple[routing.Route, ...]:
    """The routes stored for `site` itself (None: the routes for every site), without the fallback `for_site` takes."""
    return table.routes if site is None else tuple(table.sites.get(site, ()))


def remove_route(container: ContainerClient, site: str | None, model: str) -> routing.RoutingTable:
    def change(table: routing.RoutingTable) -> routing.RoutingTable:
        try:
            return routing.without_route(table, site, model)
        except KeyError as exc:
            raise RouteRefused(str(exc.args[0])) from exc

    return edit(container, change)


def describe(table: routing.RoutingTable) -> list[str]:
    def line(where: str, routes: list[tuple[str, int]]) -> str:
        total = sum(w for _, w in routes) or 1
        shown = ", ".join(f"{m} {w} ({100 * w / total:.0f} %)" for m, w in routes) or "(the default model)"
        return f"{where}: {shown}"

    ignored = [f"ignored, its model name or version ends in '.' (never served; --remove or any edit drops it): "
               f"{routing.describe_skipped([entry])}" for entry in table.skipped]  # fmt: skip
    own = [line(f"site {site}", list(routes)) for site, routes in sorted(table.sites.items())]
    return [line("every site", list(table.routes)), *own, *ignored]


def models_in_rotation(table: routing.RoutingTable, default_model: str | None) -> list[str]:
    """Every model the table sends new photos to: each site's routes with weight, or the common ones, and the
    default model when those have none (left out when None: not known here)."""
    rotation = dict.fromkeys([m for m, w in table.routes if w > 0] or ([default_model] if default_model else []))
    for site in table.sites:
        rotation.update(dict.fromkeys(m for m, w in table.for_site(site) if w > 0))
    return list(rotation)


def reaches_default(table: routing.RoutingTable) -> bool:
    """Whether some new photos go to the default model: a site without routes of its own (there is always one
    more) uses the common routes, and with none of those at weight above 0, the default model."""
    return not any(w > 0 for _, w in table.routes)


def cache_warning(table: routing.RoutingTable, default_model: str | None = None,
                  cache: int = DEFAULT_MODEL_CACHE) -> str | None:  # fmt: skip
    """What to tell the operator when a node's default cache may be smaller than the models in rotation, else None.
    Every node serves every site, so on each node every model in rotation comes round, and one more model than
    the cache holds means a load (seconds on a GPU) for many of its photos. `default_model` is the deployment's
    SITELENS_DEFAULT_MODEL; None when not known here, so the default model, where photos reach it, may or may not
    be one of the models the routes name: the count is then at least theirs, and one more unless it is."""
    rotation = models_in_rotation(table, default_model)
    unnamed_default = default_model is None and reaches_default(table)
    most = len(rotation) + unnamed_default
    if most <= cache:
        return None
    if unnamed_default:
        count = (f"at least {len(rotation)} models ({', '.join(rotation)}) and the deployment's default model, "
                 f"{most} unless it is one of those (name it with --default-model or {DEFAULT_MODEL})")  # fmt: skip
    else:
        count = f"{most} models ({', '.join(rotation)})"
    return (f"warning: new photos go to {count}, more than the {cache} a node keeps loaded by default "
            f"(SITELENS_MODEL_CACHE; nodes on an older package keep 2 until replaced); every node serves every "
            f"site, so with fewer its models are loaded again and again. Unless the deployment already sets it, "
            f"add SITELENS_MODEL_CACHE: '{most}' to nodeSettings in infra/main.ENV.bicepparam, deploy, and "
            f"replace the nodes (docs/deploy.md#updating).")  # fmt: skip


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    r = sub.add_parser("route", help="route a site's (or every site's) new photos to a published model, by weight")
    r.add_argument("--model", type=model_reference, required=True,
                   help="NAME:VERSION, published (not needed to set its route to 0 or remove it)")  # fmt: skip
    r.add_argument("--site", help="the site whose photos this routes (default: every site without its own routes)")
    r.add_argument("--weight", type=int, default=100, help="share against the site's other routes (default 100)")
    r.add_argument("--remove", action="store_true", help="remove this model's route instead")
    r.add_argument("--default-model", type=model_id, default=os.environ.get(DEFAULT_MODEL) or None,
                   help=f"the app's {DEFAULT_MODEL}, counted in the warning about models in rotation "
                        "(default: the environment's, else not known)")  # fmt: skip
    model_storage.add_arguments(r)
    r.set_defaults(handler=run_route)
    ls = sub.add_parser("routes", help="list models/routing.json")
    model_storage.add_arguments(ls)
    ls.set_defaults(handler=run_routes)


def _container(args: argparse.Namespace) -> ContainerClient | int:
    """The `models` container the arguments name; else the exit code, the reason said on stderr."""
    try:
        service = model_storage.blob_service(args)
    except model_storage.MalformedConnection as exc:
        print(f"models: {exc}", file=sys.stderr)
        return 2
    if service is None:
        print(f"models: {model_storage.NO_STORAGE}", file=sys.stderr)
        return 1
    return service.get_container_client(CONTAINER)


def run_route(args: argparse.Namespace) -> int:
    container = _container(args)
    if isinstance(container, int):
        return container
    if args.weight < 0:
        print("models route: --weight must be 0 or more", file=sys.stderr)
        return 1
    try:
        if args.remove:
            table = remove_route(container, args.site, args.model)
        else:
            table = set_route(container, args.site, args.model, args.weight)
    except (RouteRefused, InvalidInput, SitelensError) as exc:
        print(f"models route: refused: {exc}", file=sys.stderr)
        return 1
    if table.skipped:  # left out of what was written: a route to such an id can never be served
        print(
            f"models route: dropped routes whose model name or version ends in '.': "
            f"{routing.describe_skipped(table.skipped)}",
            file=sys.stderr,
        )
    print("\n".join(describe(dataclasses.replace(table, skipped=()))))
    print("new photos follow this within a minute (ingestion re-reads routing.json at most once a minute)")
    if warning := cache_warning(table, args.default_model):
        print(f"models route: {warning}", file=sys.stderr)
    return 0


def run_routes(args: argparse.Namespace) -> int:
    container = _container(args)
    if isinstance(container, int):
        return container
    try:
        table, _ = read_table(container)
    except SitelensError as exc:
        print(f"models routes: {exc}", file=sys.stderr)
        return 1
    print("\n".join(describe(table)))
    return 0
