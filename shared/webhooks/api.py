"""The subscriptions API, independent of the HTTP framework: JSON in, (status, JSON) out."""

from __future__ import annotations

import json
from typing import Any

from shared.errors import InvalidInput, NotFound, PermanentError
from shared.webhooks.service import WebhookService

Reply = tuple[int, dict[str, Any] | None]


def _error(status: int, exc: PermanentError) -> Reply:
    return status, {"error": exc.reason, "message": str(exc)}


def _body(raw: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(raw or b"{}")
    except ValueError as exc:
        raise InvalidInput("the body is not JSON", reason="invalid_json") from exc
    if not isinstance(doc, dict):
        raise InvalidInput("the body must be a JSON object", reason="invalid_json")
    return doc


def handle(service: WebhookService, action: str, params: dict[str, str], raw_body: bytes) -> Reply:
    """Dispatch one API action; every permanent error becomes a 4xx with its reason code."""
    try:
        return _ACTIONS[action](service, params, raw_body)
    except NotFound as exc:
        return _error(404, exc)
    except PermanentError as exc:
        return _error(400, exc)


def _create(service: WebhookService, _params: dict[str, str], raw: bytes) -> Reply:
    doc = _body(raw)
    url = doc.get("url")
    if not isinstance(url, str):
        raise InvalidInput("'url' is required", reason="missing_url")
    types = doc.get("event_types")
    if types is not None and not (isinstance(types, list) and all(isinstance(t, str) for t in types)):
        raise InvalidInput("'event_types' must be a list of strings", reason="invalid_event_types")
    sub, secret = service.subscribe(url, doc.get("site"), types)
    return 201, {**sub.public(), "secret": secret}


def _list(service: WebhookService, _params: dict[str, str], _raw: bytes) -> Reply:
    return 200, {"items": [s.public() for s in service.store.list_subscriptions()]}


def _delete(service: WebhookService, params: dict[str, str], _raw: bytes) -> Reply:
    service.store.delete_subscription(params["id"])
    return 204, None


def _rotate(service: WebhookService, params: dict[str, str], _raw: bytes) -> Reply:
    secret = service.rotate(params["id"])
    return 200, {**service.store.get_subscription(params["id"]).public(), "secret": secret}


def _failed(service: WebhookService, params: dict[str, str], _raw: bytes) -> Reply:
    items = [
        {
            "event_id": d.event_id,
            "failure_reason": d.failure_reason,
            "attempts": [
                {"number": a.number, "started_at": a.started_at.isoformat(), "status": a.status, "error": a.error}
                for a in d.attempts
            ],
        }
        for d in service.store.failed_deliveries(params["id"])
    ]
    return 200, {"items": items}


def _replay(service: WebhookService, params: dict[str, str], _raw: bytes) -> Reply:
    service.replay(params["event_id"], params["id"])
    return 202, {"replayed": params["event_id"]}


_ACTIONS = {
    "create": _create,
    "list": _list,
    "delete": _delete,
    "rotate": _rotate,
    "failed": _failed,
    "replay": _replay,
}
