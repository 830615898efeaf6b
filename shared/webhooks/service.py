"""The webhook use cases: publish an event, deliver one attempt, sweep, replay; and, from
`shared.webhooks.subscriptions`, subscribe, rotate and read a subscription's deliveries.

Delivery is at least once and every attempt is recorded: an attempt is written as started (a
conditional write, so two workers never send the same delivery at once) before the POST, and its
outcome after. A message that is lost, or an attempt whose process died, is picked up by `sweep()`,
which the reconciler timer runs; the receiver dedupes on `webhook-id`, the event id, which never
changes across attempts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from opentelemetry.trace import SpanKind

from batch_tasks import telemetry
from shared import metrics
from shared.errors import Conflict, InvalidInput, NotFound, TransientError
from shared.webhooks import endpoint, retry
from shared.webhooks.models import (
    Attempt,
    Delivery,
    DeliveryState,
    Event,
    Subscription,
)
from shared.webhooks.ports import NotificationQueue, WebhookStore
from shared.webhooks.signing import sign_headers
from shared.webhooks.subscriptions import WRITE_TRIES, SubscriptionCases

log = logging.getLogger(__name__)
# An attempt still open after the send timeout plus this margin belongs to a process that died.
STALE_ATTEMPT = timedelta(seconds=endpoint.TIMEOUT_S) + timedelta(minutes=1)
# A pending delivery this far past due lost its queue message.
LOST_MESSAGE_GRACE = timedelta(minutes=2)
# A retry's message becomes visible at its next attempt by the clock of the instance that sent it; the instance
# that takes it may run a few seconds behind (clock skew between instances). A message more than this ahead of
# the next attempt is a duplicate; one within it is the retry itself, which, dropped, would wait for the sweep
# (the grace above and up to a timer period more). Never more than half the wait, though: a duplicate taken
# just after an attempt must not send the next one at once, ignoring a receiver's short Retry-After.
EARLY_ARRIVAL_SLACK = timedelta(seconds=5)

Sender = Callable[[endpoint.Target, bytes, dict[str, str]], endpoint.Response]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _outcome(state: DeliveryState) -> str:
    """An attempt's outcome, as metrics and traces name it."""
    return {DeliveryState.DELIVERED: "delivered", DeliveryState.PENDING: "retry"}.get(state, "failed")


def _default_sender(target: endpoint.Target, body: bytes, headers: dict[str, str]) -> endpoint.Response:
    return endpoint.post(target, body, headers)


class WebhookService(SubscriptionCases):
    def __init__(
        self,
        store: WebhookStore,
        queue: NotificationQueue,
        policy: endpoint.EndpointPolicy,
        *,
        resolve: endpoint.Resolver = endpoint.system_resolver,
        send: Sender = _default_sender,
        clock: Callable[[], datetime] = _utcnow,
        stale_attempt: timedelta = STALE_ATTEMPT,
        lost_message: timedelta = LOST_MESSAGE_GRACE,
        retry_scale: float = 1.0,
        trace_of: Callable[[str], str | None] = lambda job_id: None,
    ) -> None:
        """`trace_of`: a job id's traceparent, so each delivery attempt joins its photo's trace;
        `retry_scale` multiplies the retry schedule's delays (1: the Standard Webhooks schedule)."""
        self.retry_scale = retry_scale
        self.trace_of = trace_of
        self.stale_attempt = stale_attempt
        self.lost_message = lost_message
        self.store = store
        self.queue = queue
        self.policy = policy
        self.resolve = resolve
        self.send = send
        self.clock = clock

    # --- outbox --------------------------------------------------------------------------------
    def publish(self, event: Event) -> int:
        """Fan one terminal event out to matching subscriptions and queue each delivery's first attempt: `record`,
        then `notify`; idempotent (never a second delivery). Returns deliveries queued."""
        unsent = self.record(event)
        self.notify(unsent)
        return len(unsent)

    def record(self, event: Event) -> list[tuple[str, str]]:
        """Store the event and a pending delivery for each matching subscription, queueing nothing; idempotent.
        Returns the (event id, subscription id) of each delivery whose first attempt is still to be made, this
        call's or an earlier call's, for `notify`: a caller that must first know the event still stands
        (shared/jobs/finisher.py) queues them after, and its retry after a failed try queues them at once. A second
        message is harmless (`deliver` takes an attempt with a conditional write: the later one finds it taken or
        not due). A delivery never queued is re-driven by `sweep` once it is `lost_message` past due."""
        self.store.add_event(event)
        unsent: list[tuple[str, str]] = []
        for sub in self.store.subscriptions_for(event.site):  # not every subscription: docs/scale.md
            if not sub.wants(event):
                continue
            now = self.clock()
            delivery = Delivery(event.id, sub.id, DeliveryState.PENDING, next_attempt_at=now, created_at=now)
            if self.store.add_delivery(delivery) or self._never_attempted(event.id, sub.id):
                unsent.append((event.id, sub.id))
        return unsent

    def _never_attempted(self, event_id: str, subscription_id: str) -> bool:
        """Whether the delivery an earlier `record` wrote is pending with no attempt (read only on that path)."""
        try:
            delivery = self.store.get_delivery(event_id, subscription_id)
        except NotFound:  # erased since, with its event: nothing to send
            return False
        return delivery.state is DeliveryState.PENDING and not delivery.attempts

    def notify(self, unsent: list[tuple[str, str]]) -> None:
        """Queue the first attempt of each delivery `record` returned, due now."""
        for event_id, subscription_id in unsent:
            self.queue.send(event_id, subscription_id, timedelta(0))

    # --- one attempt ---------------------------------------------------------------------------
    def deliver(self, event_id: str, subscription_id: str) -> DeliveryState:
        """Run the attempt a `notifications` message asks for, if it is still due. The attempt's span opens before
        the URL's check, so one the check refuses or DNS fails is in its photo's trace too (docs/telemetry.md)."""
        delivery = self._due(event_id, subscription_id)
        if not isinstance(delivery, Delivery):
            return delivery
        now = self.clock()
        try:
            sub = self.store.get_subscription(subscription_id)
        except NotFound:
            sub = None
        if sub is None or sub.disabled_reason is not None:
            self._finish(delivery, DeliveryState.CANCELLED, "subscription removed or disabled")
            return DeliveryState.CANCELLED
        number, event = delivery.attempt_count + 1, self.store.get_event(event_id)
        lag_s = (now - event.created_at).total_seconds()  # every attempt's, refused or not (docs/telemetry.md)
        attributes = {"sitelens.subscription": sub.id, "sitelens.event_type": event.type, "sitelens.attempt": number}
        with telemetry.job_span("webhook.deliver", event.job_id, parent=self.trace_of(event.job_id),
                                kind=SpanKind.CLIENT, attributes=attributes) as span:  # fmt: skip
            try:
                target = endpoint.check(sub.url, self.policy, self.resolve)
            except endpoint.UnsafeWebhookUrl as exc:
                failed = delivery.with_attempt(Attempt(number, now, now, None, f"refused: {exc}"))
                self._finish(failed, DeliveryState.FAILED, exc.reason)
                log.warning("webhook %s → %s attempt %d: refused, delivery failed (%s; host %s)",
                            event_id, sub.id, number, exc, _host(sub.url))  # fmt: skip
                span.set_attributes({"sitelens.outcome": "refused", "http.response.status_code": 0})  # as counted
                telemetry.fail(span, exc.reason, f"refused: {exc}")
                metrics.webhook_delivery("refused", lag_s)
                return DeliveryState.FAILED
            except OSError as exc:  # DNS may be briefly broken, NXDOMAIN included: an attempt that failed, retried
                response = endpoint.Response(None, error=f"DNS: {exc}")  # no connection made: `connection_error`
                state = self._record(delivery, sub, Attempt(number, now, now, None, response.error), {})
            else:
                try:
                    delivery = self.store.update_delivery(delivery.with_attempt(Attempt(number, now)), was=delivery)
                except Conflict:  # another worker took this attempt; its own span records what became of it
                    span.set_attribute("sitelens.outcome", "taken")
                    return DeliveryState.PENDING
                headers = sign_headers(sub.signing_secrets(now), event.id, int(now.timestamp()), event.body)
                traceparent = telemetry.current_traceparent()
                if traceparent:  # W3C Trace Context: the receiver may continue the photo's trace
                    headers["traceparent"] = traceparent
                response = self.send(target, event.body, headers)
                attempt = Attempt(number, now, self.clock(), response.status, response.error)
                state = self._record(delivery, sub, attempt, dict(response.headers))
            outcome = _outcome(state)
            span.set_attributes({"sitelens.outcome": outcome, "http.response.status_code": response.status or 0})
            if outcome != "delivered":
                telemetry.fail(span, response.failure, response.error or f"HTTP {response.status}")
        metrics.webhook_delivery(outcome, lag_s)
        return state

    def _due(self, event_id: str, subscription_id: str) -> Delivery | DeliveryState:
        """The delivery when an attempt is due now, else the state to report without sending."""
        try:
            delivery = self.store.get_delivery(event_id, subscription_id)
        except NotFound:
            # Retrying cannot make it exist; dropping is the only end (the message names nothing we sent).
            log.warning("notification for unknown delivery %s → %s dropped", event_id, subscription_id)
            return DeliveryState.CANCELLED
        if delivery.state.terminal:
            return delivery.state  # a duplicate message
        if delivery.open_attempt is not None:
            return delivery.state  # in flight elsewhere; the sweep re-drives it if that worker died
        if delivery.next_attempt_at > self.clock() + _slack(delivery):
            return delivery.state  # early duplicate; the scheduled message or the sweep will come
        return delivery

    def _record(
        self, delivery: Delivery, sub: Subscription, attempt: Attempt, headers: dict[str, str]
    ) -> DeliveryState:
        decision = retry.decide(attempt.number, attempt.status, headers, self.clock(), scale=self.retry_scale)
        delivery = delivery.with_attempt(attempt)
        log.info(
            "webhook %s → %s attempt %d: %s (%s)",
            delivery.event_id, sub.id, attempt.number, decision.outcome, attempt.status or attempt.error,
        )  # fmt: skip
        if decision.outcome is retry.Outcome.DELIVERED:
            self._finish(delivery, DeliveryState.DELIVERED, None)
            return DeliveryState.DELIVERED
        if decision.outcome is retry.Outcome.GONE:
            self._finish(delivery, DeliveryState.FAILED, "receiver_gone")
            self._disable(sub, "receiver answered 410 Gone")
            return DeliveryState.FAILED
        if decision.outcome is retry.Outcome.EXHAUSTED:
            self._finish(delivery, DeliveryState.FAILED, "retries_exhausted")
            return DeliveryState.FAILED
        assert decision.next_attempt_at is not None
        self.store.update_delivery(replace(delivery, next_attempt_at=decision.next_attempt_at), was=delivery)
        self.queue.send(delivery.event_id, sub.id, decision.next_attempt_at - self.clock())
        return DeliveryState.PENDING

    def _finish(self, delivery: Delivery, state: DeliveryState, reason: str | None) -> None:
        self.store.update_delivery(replace(delivery, state=state, failure_reason=reason), was=delivery)

    def _disable(self, sub: Subscription, reason: str) -> None:
        try:
            self.store.update_subscription(replace(sub, disabled_reason=reason))
        except Conflict:
            log.warning("subscription %s changed while being disabled; the next 410 will disable it", sub.id)

    # --- recovery ------------------------------------------------------------------------------
    def sweep(self) -> int:
        """Re-drive deliveries whose message was lost or whose attempt died mid-flight."""
        now = self.clock()
        redriven = 0
        for delivery in self.store.pending_deliveries(due_before=now - self.lost_message):
            current = delivery
            open_attempt = delivery.open_attempt
            if open_attempt is not None:
                if now - open_attempt.started_at < self.stale_attempt:
                    continue  # still in flight
                current = delivery.with_attempt(replace(open_attempt, finished_at=now, error="interrupted"))
                if open_attempt.number >= retry.MAX_ATTEMPTS:  # it counts: the schedule has no attempt left
                    current = replace(current, state=DeliveryState.FAILED, failure_reason="retries_exhausted")
                try:
                    current = self.store.update_delivery(current, was=delivery)
                except Conflict:
                    continue
                if current.state.terminal:
                    continue
            self.queue.send(current.event_id, current.subscription_id, timedelta(0))
            redriven += 1
        return redriven

    def replay(self, event_id: str, subscription_id: str) -> None:
        """Send a failed delivery again (an operator's or client's request); its first and latest attempts are kept
        (`Delivery.with_attempt`), so a delivery can be replayed any number of times. NotFound for an
        unknown subscription or delivery; Conflict `subscription_disabled` when a 410 disabled the subscription,
        the delivery left failed (its attempt would be cancelled unsent). A replay that loses to a concurrent
        one of the same delivery answers as that one did, and queues nothing more."""
        sub = self.store.get_subscription(subscription_id)
        if sub.disabled_reason is not None:
            raise Conflict(f"subscription {subscription_id} is disabled ({sub.disabled_reason}); subscribe again to "
                           "receive events", reason="subscription_disabled")  # fmt: skip
        raced = False
        for _ in range(WRITE_TRIES):
            delivery = self.store.get_delivery(event_id, subscription_id)
            if delivery.state is not DeliveryState.FAILED:
                if raced:  # only a replay changes a failed delivery
                    return
                raise InvalidInput("only failed deliveries can be replayed", reason="not_failed")
            pending = replace(delivery, state=DeliveryState.PENDING, failure_reason=None, next_attempt_at=self.clock())
            try:
                self.store.update_delivery(pending, was=delivery)
            except Conflict:
                raced = True
                continue
            self.queue.send(event_id, subscription_id, timedelta(0))
            return
        raise TransientError(f"delivery {event_id} kept changing while being replayed; try again")


def _host(url: str) -> str:
    """A URL's host, for a log line: never its path or query, which may carry a receiver's token."""
    try:
        return urlsplit(url).hostname or "?"
    except ValueError:
        return "?"


def _slack(delivery: Delivery) -> timedelta:
    """How early a message for `delivery`'s next attempt may arrive and still be that attempt's."""
    last = delivery.attempts[-1] if delivery.attempts else None
    if last is None or last.finished_at is None:
        return EARLY_ARRIVAL_SLACK
    return min(EARLY_ARRIVAL_SLACK, (delivery.next_attempt_at - last.finished_at) / 2)
