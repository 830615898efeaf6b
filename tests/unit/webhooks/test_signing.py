from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.webhooks.signing import WebhookVerificationError, new_secret, sign_headers, signature, verify

SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TS = 1614265330
SPEC_BODY = b'{"test": 2432232314}'


def test_the_specs_published_test_vector():
    assert signature(SPEC_SECRET, SPEC_ID, SPEC_TS, SPEC_BODY) == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    verify(SPEC_SECRET, sign_headers([SPEC_SECRET], SPEC_ID, SPEC_TS, SPEC_BODY), SPEC_BODY, now=SPEC_TS)


def headers(ts: int = SPEC_TS) -> dict[str, str]:
    return sign_headers([SPEC_SECRET], SPEC_ID, ts, SPEC_BODY)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda h, b: (h, b + b" "), "no matching"),  # tampered body
        (lambda h, b: ({k: v for k, v in h.items() if k != "webhook-signature"}, b), "missing header"),
        (lambda h, b: ({k: v for k, v in h.items() if k != "webhook-id"}, b), "missing header"),
        (lambda h, b: ({**h, "webhook-signature": h["webhook-signature"].replace("v1,", "v2,")}, b), "no matching"),
        (lambda h, b: ({**h, "webhook-timestamp": "soon"}, b), "not an integer"),
        (lambda h, b: ({**h, "webhook-id": "msg_other"}, b), "no matching"),
    ],
)
def test_verification_failures(mutate, message):
    h, b = mutate(headers(), SPEC_BODY)
    with pytest.raises(WebhookVerificationError, match=message):
        verify(SPEC_SECRET, h, b, now=SPEC_TS)


@pytest.mark.parametrize("skew", [-301, 301])
def test_timestamp_beyond_tolerance_fails_and_within_passes(skew):
    with pytest.raises(WebhookVerificationError, match="tolerance"):
        verify(SPEC_SECRET, headers(), SPEC_BODY, now=SPEC_TS + skew)
    verify(SPEC_SECRET, headers(), SPEC_BODY, now=SPEC_TS + skew - (1 if skew > 0 else -1))


def test_rotation_header_with_two_signatures_verifies_with_either_secret():
    new = new_secret()
    h = sign_headers([SPEC_SECRET, new], SPEC_ID, SPEC_TS, SPEC_BODY)
    assert len(h["webhook-signature"].split(" ")) == 2
    verify(SPEC_SECRET, h, SPEC_BODY, now=SPEC_TS)
    verify(new, h, SPEC_BODY, now=SPEC_TS)
    with pytest.raises(WebhookVerificationError):
        verify(new_secret(), h, SPEC_BODY, now=SPEC_TS)


def test_junk_entries_in_the_signature_list_are_ignored():
    h = headers()
    h["webhook-signature"] = "v2,abc garbage " + h["webhook-signature"]
    verify(SPEC_SECRET, h, SPEC_BODY, now=SPEC_TS)


def test_ids_with_dots_are_refused():
    with pytest.raises(ValueError, match=r"'\.'"):
        signature(SPEC_SECRET, "a.b", SPEC_TS, SPEC_BODY)


@given(body=st.binary(max_size=512), ts=st.integers(0, 2**40))
def test_sign_then_verify_round_trips(body, ts):
    secret = new_secret()
    verify(secret, sign_headers([secret], "msg_1", ts, body), body, now=ts)
