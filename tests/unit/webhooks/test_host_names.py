"""A webhook host name becomes the A-label a browser would use (UTS #46 mapping, non-transitional, IDNA 2008), at
registration and before every attempt: `straße.de` is `xn--strae-oqa.de`, never `strasse.de`, a name another
registrant may hold. That A-label is what is resolved and what the request is made for (TLS server name, Host
header). A name IDNA 2008 refuses is refused as `webhook_url_refused`, and nothing is resolved or sent."""

from __future__ import annotations

from dataclasses import replace
from ipaddress import ip_address

import pytest

from shared.webhooks import api as webhooks_api
from shared.webhooks import endpoint
from shared.webhooks.address_policy import IPAddress
from shared.webhooks.endpoint import EndpointPolicy, Target, UnsafeWebhookUrl, check
from shared.webhooks.models import DeliveryState, Event
from shared.webhooks.service import WebhookService
from tests.unit.api.fakes import PROBLEM_MEMBERS, MemoryWebhookStore, NoQueue
from tests.unit.uploads.fakes import Clock

STRICT = EndpointPolicy()
PUBLIC = ip_address("93.184.216.34")


class RecordingResolver:
    """Every name asked for, each answered with one public address."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def __call__(self, host: str, port: int) -> list[IPAddress]:
        self.names.append(host)
        return [PUBLIC]


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://straße.de/hook", "xn--strae-oqa.de"),  # ß kept (IDNA 2003 spelled it out: strasse.de)
        ("https://STRAßE.DE/hook", "xn--strae-oqa.de"),  # upper case mapped
        ("https://\uff33\uff34\uff32\uff21\u00df\uff25\uff0e\uff24\uff25/hook", "xn--strae-oqa.de"),  # full width
        ("https://\uff28\uff2f\uff2f\uff2b\uff33\uff0eExample/hook", "hooks.example"),  # full-width HOOKS and full stop
        ("https://XN--STRAE-OQA.DE/hook", "xn--strae-oqa.de"),  # an A-label as given, lower-cased
        # capital sigma maps to U+03C3; str.lower before a hyphen gives the final sigma U+03C2, another A-label
        ("https://\u039f\u0394\u039f\u03a3-1.gr/hook", "xn---1-k9b7bby.gr"),
        ("https://नमस्\u200dते.in/hook", "xn--h2bhs4b8d8a2905a.in"),  # a ZWJ after a virama is kept
        # a ZWNJ between joining letters is kept
        ("https://\u0646\u0627\u0645\u0647\u200c\u0627\u06cc.ir/hook", "xn--mgba3gch31f060k.ir"),
        ("https://hooks.example./hook", "hooks.example."),
        ("https://[2606:4700::6810:84e5]/hook", "2606:4700::6810:84e5"),  # an IP literal as written
    ],
)
def test_the_host_resolved_and_sent_to_is_the_uts46_nontransitional_a_label(url: str, host: str):
    resolve = RecordingResolver()
    target = check(url, STRICT, resolve)
    assert (target.host, resolve.names) == (host, [host])


@pytest.mark.parametrize(
    ("host", "why"),
    [
        ("a\u200db.example", "joiner its context rule forbids"),  # IDNA 2003 dropped it: ab.example
        ("a\u200cb.example", "joiner its context rule forbids"),
        ("a\ufffdb.example", "cannot be converted"),  # a code point UTS #46 disallows
        ("a\u2028b.example", "cannot be converted"),
        ("xn--zz.example", "no A-label"),  # Punycode that does not decode
        ("xn--a.example", "cannot be converted"),  # decodes to a control character, which UTS #46 disallows
        ("xn--a-ecp.example", "cannot be converted"),  # decodes to `a⒈`, which UTS #46 disallows
        ("xn--.example", "no A-label"),  # decodes to nothing
        ("\u05d0abc.example", "browsers refuse"),  # a right-to-left label with left-to-right letters: the bidi rule
        ("\u0301a.example", "browsers refuse"),  # a label that begins with a combining mark
        ("a\u00a0b.example", "not a valid DNS name"),  # mapped to a space
    ],
)
def test_a_name_no_browser_would_convert_is_refused_before_anything_is_resolved(host: str, why: str):
    resolve = RecordingResolver()
    with pytest.raises(UnsafeWebhookUrl, match=why) as refused:
        check(f"https://{host}/hook", STRICT, resolve)
    assert refused.value.reason == "webhook_url_refused"
    assert resolve.names == []


@pytest.mark.parametrize(
    ("host", "a_labels"),
    [("i\u2764.ws", "xn--i-7iq.ws"), ("\u0640.example", "xn--chb.example"), ("xn--i-7iq.ws", "xn--i-7iq.ws")],
)
def test_symbols_and_letters_idna_2008_leaves_out_are_converted_as_browsers_convert_them(host: str, a_labels: str):
    """The WHATWG URL standard maps with UTS #46 and checks no IDNA 2008 validity: `i❤.ws` is a name in use."""
    resolve = RecordingResolver()
    assert check(f"https://{host}/hook", STRICT, resolve).host == a_labels and resolve.names == [a_labels]


@pytest.mark.parametrize(
    "host",
    ["stra%C3%9Fe.de", "a" * 64 + ".example", "a..example", ("a" * 63 + ".") * 4],
    ids=["percent-encoded", "label-64", "empty-label", "name-over-253"],
)
def test_an_ascii_name_that_is_no_dns_name_is_refused_before_anything_is_resolved(host: str):
    resolve = RecordingResolver()
    with pytest.raises(UnsafeWebhookUrl, match="not a valid DNS name") as refused:
        check(f"https://{host}/hook", STRICT, resolve)
    assert refused.value.reason == "webhook_url_refused"
    assert resolve.names == []


@pytest.mark.parametrize("host", ["hooks_1.example", "ho--oks.example", "HOOKS.Example", "-hooks.example", "hooks-.ex"])
def test_an_ascii_name_is_used_as_written_lower_cased_underscores_and_hyphens_included(host: str):
    """Names in use that IDNA 2008 would refuse (an underscore, hyphens at a label's ends or in its third and fourth
    places) resolve in DNS, browsers take them, and they were accepted before: kept."""
    resolve = RecordingResolver()
    assert check(f"https://{host}/hook", STRICT, resolve).host == host.lower() and resolve.names == [host.lower()]


def test_registration_refuses_such_a_name_as_a_problem_document_and_stores_nothing():
    service = WebhookService(MemoryWebhookStore(), NoQueue(), STRICT, resolve=RecordingResolver())
    status, doc = webhooks_api.handle(service, "create", {}, b'{"url": "https://a\\u200db.example/hook"}').pair()
    assert doc is not None and set(doc) == PROBLEM_MEMBERS
    assert (status, doc["status"], doc["reason"]) == (400, 400, "webhook_url_refused")
    assert service.store.list_subscriptions() == []


def delivering_service() -> tuple[WebhookService, RecordingResolver, list[Target]]:
    resolve, sent = RecordingResolver(), []

    def send(target: Target, _body: bytes, _headers: dict[str, str]) -> endpoint.Response:
        sent.append(target)
        return endpoint.Response(204)

    return WebhookService(MemoryWebhookStore(), NoQueue(), STRICT, resolve=resolve, send=send), resolve, sent


def publish_one(service: WebhookService) -> Event:
    event = Event("evt_j1_succeeded", "j1", "site1", "job.succeeded", b"{}", Clock()())
    assert service.publish(event) == 1
    return event


def test_registration_and_every_attempt_resolve_and_send_to_the_same_a_label():
    service, resolve, sent = delivering_service()
    sub, _ = service.subscribe("https://straße.de/hook", None, None)
    event = publish_one(service)
    assert service.deliver(event.id, sub.id) is DeliveryState.DELIVERED
    assert resolve.names == ["xn--strae-oqa.de", "xn--strae-oqa.de"]  # at registration, then at the attempt
    assert [(t.host, [str(a) for a in t.addresses]) for t in sent] == [("xn--strae-oqa.de", [str(PUBLIC)])]


def test_a_stored_subscription_whose_name_idna_2008_refuses_fails_its_delivery_unsent():
    service, resolve, sent = delivering_service()
    sub, _ = service.subscribe("https://hooks.example/hook", None, None)
    service.store.update_subscription(replace(sub, url="https://a\u200db.example/hook"))  # stored by an older check
    event = publish_one(service)
    assert service.deliver(event.id, sub.id) is DeliveryState.FAILED
    assert service.store.get_delivery(event.id, sub.id).failure_reason == "webhook_url_refused"
    assert (resolve.names, sent) == (["hooks.example"], [])  # only the registration resolved
