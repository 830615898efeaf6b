"""Pools and their nodes: create, get, list, delete, resize, autoscale (enable, disable, evaluate), node counts."""

from __future__ import annotations

from aiohttp import web

from emulators.batch_service import documents
from emulators.batch_service.responses import (
    accepted,
    body_of,
    check_conditions,
    created,
    document,
    done,
    listing,
    service_of,
)
from emulators.batch_service.wire import BatchError, invalid, json_response, normalized, stamp

_DEALLOCATION = ("requeue", "terminate", "taskcompletion", "retaineddata")


async def create_pool(request: web.Request) -> web.StreamResponse:
    s = service_of(request)
    body = await body_of(request)
    existing = s.store.pools.get(str(body.get("id", "")).lower())
    if existing is not None:
        raise BatchError("PoolBeingDeleted" if existing["state"] == "deleting" else "PoolExists")
    pool = documents.new_pool(body, s.url)
    if pool["enableAutoScale"]:
        s.engine.autoscaler.on_create(pool)
    s.store.pools[pool["id"].lower()] = pool
    s.store.nodes[pool["id"].lower()] = []
    s.changed()
    return created(pool)


async def get_pool(request: web.Request) -> web.StreamResponse:
    s = service_of(request)
    return document(s, request, s.pool(request.match_info["pool"]), "pools")


async def list_pools(request: web.Request) -> web.StreamResponse:
    s = service_of(request)
    return listing(s, request, list(s.store.pools.values()), "/pools", "pools")


async def delete_pool(request: web.Request) -> web.StreamResponse:
    s = service_of(request)
    pool = s.pool(request.match_info["pool"])
    check_conditions(request, pool, read=False)
    if pool["state"] != "deleting":
        # The engine removes the nodes (their tasks are requeued), then the pool.
        documents.set_state(pool, "deleting")
        pool["allocationState"], pool["allocationStateTransitionTime"] = "resizing", stamp()
        s.changed()
    return accepted(pool)


async def resize_pool(request: web.Request) -> web.StreamResponse:
    s = service_of(request)
    pool, body = s.pool(request.match_info["pool"], write=True), await body_of(request)
    check_conditions(request, pool, read=False)
    if pool["enableAutoScale"]:
        raise BatchError("OperationInvalidForCurrentState", "The pool has autoscale enabled; disable it first.")
    if pool["allocationState"] != "steady":
        raise BatchError("PoolBeingResized")
    targets = {}
    for name in ("targetDedicatedNodes", "targetLowPriorityNodes"):
        value = body.get(name, pool[name])
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise invalid(name, "a count of nodes, 0 or more")
        targets[name] = value
    option = body.get("nodeDeallocationOption") or "requeue"
    if option not in _DEALLOCATION:
        raise invalid("nodeDeallocationOption", ", ".join(_DEALLOCATION))
    pool.update(targets, _deallocation=option, allocationState="resizing", allocationStateTransitionTime=stamp())
    pool["resizeTimeout"] = normalized(body.get("resizeTimeout") or "PT15M", "resizeTimeout")
    documents.touch(pool)
    s.changed()
    return accepted(pool)


async def enable_autoscale(request: web.Request) -> web.StreamResponse:
    s = service_of(request)
    pool, body = s.pool(request.match_info["pool"], write=True), await body_of(request)
    check_conditions(request, pool, read=False)
    s.engine.autoscaler.enable(pool, body)
    s.changed()
    return done(pool)


async def disable_autoscale(request: web.Request) -> web.StreamResponse:
    s = service_of(request)
    pool = s.pool(request.match_info["pool"], write=True)
    s.engine.autoscaler.disable(pool)
    s.changed()
    return done(pool)


async def evaluate_autoscale(request: web.Request) -> web.StreamResponse:
    s = service_of(request)
    pool, body = s.pool(request.match_info["pool"], write=True), await body_of(request)
    if not body.get("autoScaleFormula"):
        raise BatchError("MissingRequiredProperty", values={"PropertyName": "autoScaleFormula"})
    return json_response(s.engine.autoscaler.evaluate(pool, body["autoScaleFormula"]))


async def node_counts(request: web.Request) -> web.StreamResponse:
    s = service_of(request)
    items = [s.engine.nodes.counts(p) for p in s.store.pools.values()]
    return listing(s, request, items, "/nodecounts", "poolnodecounts")


async def list_nodes(request: web.Request) -> web.StreamResponse:
    s = service_of(request)
    pool = s.pool(request.match_info["pool"])
    return listing(s, request, s.engine.nodes.of(pool), f"/pools/{pool['id']}/nodes", "nodes")


async def get_node(request: web.Request) -> web.StreamResponse:
    s = service_of(request)
    pool = s.pool(request.match_info["pool"])
    for node in s.engine.nodes.of(pool):
        if node["id"] == request.match_info["node"]:
            body = {"odata.metadata": f"{s.url}/$metadata#nodes/@Element", **_public(node)}
            return json_response(body)
    raise BatchError("NodeNotFound")


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_post("/pools", create_pool)
    r.add_get("/pools", list_pools)
    r.add_get("/pools/{pool}", get_pool)  # HEAD too: the SDK's pool_exists
    r.add_delete("/pools/{pool}", delete_pool)
    r.add_post("/pools/{pool}/resize", resize_pool)
    r.add_post("/pools/{pool}/enableautoscale", enable_autoscale)
    r.add_post("/pools/{pool}/disableautoscale", disable_autoscale)
    r.add_post("/pools/{pool}/evaluateautoscale", evaluate_autoscale)
    r.add_get("/pools/{pool}/nodes", list_nodes)
    r.add_get("/pools/{pool}/nodes/{node}", get_node)
    r.add_get("/nodecounts", node_counts)


def _public(doc: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in doc.items() if not k.startswith("_")}
