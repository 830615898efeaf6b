"""The subscriptions API, independent of the HTTP framework: JSON in, a `Reply` (JSON or problem document) out.

Path ids and body members are checked by type and size before the store sees them; every sitelens error
becomes an RFC 9457 problem document with its reason code (400, 404, 409, 503, ...); `subscription_exists`
also names the subscription that exists (`subscription_id`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from shared import paging, problems, request_body
from shared.errors import SitelensError
from shared.http_reply import Reply
from shared.webhooks.models import (
    Delivery,
    DeliveryState,
    Event,
    SubscriptionRequest,
    check_event_id,
    check_subscription_id,
)
from shared.webhooks.service import WebhookService
from shared.webhooks.subscriptions import already_registered

log = logging.getLogger(__name__)
MAX_BODY = 16 * 1024  # a URL of 2,048 characters, each \u-escaped, with a site and the event types
DEFAULT_RECENT = 10  # what the dashboard shows; at most one page of the index (paging.MAX_LIMIT reads)
DEFAULT_FAILED = 50  # a page of failed deliveries, as GET /jobs pages jobs


def handle(
    service: WebhookService, action: str, params: dict[str, str], raw_body: bytes, query: Mapping[str, str] = {}
) -> Reply:
    """Dispatch one API action; every sitelens error becomes a problem document with its status and reason.
    `query`: the query string's parameters; path parameters win over a query parameter of the same name."""
    try:
        return _ACTIONS[action](service, {**query, **params}, raw_body)
    except SitelensError as exc:
        reply = Reply.error(exc)
        if reply.status >= 500:
            log.warning("subscriptions %s failed: %s", action, exc)
        return reply


def _create(service: WebhookService, _params: dict[str, str], raw: bytes) -> Reply:
    request = SubscriptionRequest.from_json(request_body.json_object(raw, max_bytes=MAX_BODY))
    registered = service.register(request.url, request.site, request.event_types)
    if isinstance(registered, str):  # RFC 9457 lets a problem carry members of its own: the one to use instead
        status, problem = problems.from_error(already_registered(registered))
        return Reply(status, {**problem, "subscription_id": registered})
    sub, secret = registered
    return Reply(201, {**sub.public(service.clock()), "secret": secret})


def _list(service: WebhookService, _params: dict[str, str], _raw: bytes) -> Reply:
    now = service.clock()
    return Reply(200, {"items": [s.public(now) for s in service.subscriptions()]})


def _delete(service: WebhookService, params: dict[str, str], _raw: bytes) -> Reply:
    service.unsubscribe(check_subscription_id(params["id"]))
    return Reply(204)


def _rotate(service: WebhookService, params: dict[str, str], _raw: bytes) -> Reply:
    subscription_id = check_subscription_id(params["id"])
    # The answer is what the rotation wrote: a read after it could fail, and a client answered 503 would rotate
    # again, stopping the secret its receiver still uses, for a secret it was never shown.
    sub, secret = service.rotate(subscription_id)
    return Reply(200, {**sub.public(service.clock()), "secret": secret})


def _failed(service: WebhookService, params: dict[str, str], _raw: bytes) -> Reply:
    subscription_id = check_subscription_id(params["id"])
    limit = paging.limit(params.get("limit"), DEFAULT_FAILED)
    # NotFound (404) for an unknown subscription; one page of the store, whatever the subscription's backlog.
    page, after = service.failed_deliveries(subscription_id, limit, paging.position(params.get("continuation")))
    items = [
        {
            "event_id": d.event_id,
            "failure_reason": d.failure_reason,
            "attempts": [
                {"number": a.number, "started_at": a.started_at.isoformat(), "status": a.status, "error": a.error}
                for a in d.attempts
            ],
        }
        for d in page
    ]
    return Reply(200, {"items": items, "continuation": paging.token(after)})


def _recent(service: WebhookService, params: dict[str, str], _raw: bytes) -> Reply:
    subscription_id, limit = check_subscription_id(params["id"]), paging.limit(params.get("limit"), DEFAULT_RECENT)
    return Reply(200, {"deliveries": [_outcome(d, e) for d, e in service.recent_deliveries(subscription_id, limit)]})


def _outcome(d: Delivery, event: Event | None) -> dict[str, object]:
    last = d.attempts[-1] if d.attempts else None
    finished = last.finished_at if last is not None and d.state.terminal else None
    return {
        "event_id": d.event_id,
        "job_id": event.job_id if event else None,
        "type": event.type if event else None,
        "state": d.state.value,
        "failure_reason": d.failure_reason,
        "attempts": d.attempt_count,  # every attempt made, not only those the delivery still keeps
        "last_status": last.status if last else None,
        "last_error": last.error if last else None,
        "created_at": d.created_at.isoformat() if d.created_at else None,
        "finished_at": finished.isoformat() if finished else None,  # when it was delivered or given up
        "next_attempt_at": d.next_attempt_at.isoformat() if d.state is DeliveryState.PENDING else None,
    }


def _replay(service: WebhookService, params: dict[str, str], _raw: bytes) -> Reply:
    subscription_id, event_id = check_subscription_id(params["id"]), check_event_id(params["event_id"])
    service.replay(event_id, subscription_id)
    return Reply(202, {"replayed": event_id})


_ACTIONS = {
    "create": _create,
    "list": _list,
    "delete": _delete,
    "rotate": _rotate,
    "failed": _failed,
    "recent": _recent,
    "replay": _replay,
}
