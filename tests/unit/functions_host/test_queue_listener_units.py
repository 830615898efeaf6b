from __future__ import annotations

import base64
import random
from datetime import timedelta

import pytest

from emulators.functions_host.queue_listener import Backoff, DecodeError, decode_body, poison_queue_name


def test_poison_queue_names():
    assert poison_queue_name("completions") == "completions-poison"
    assert poison_queue_name("completions-poison") is None
    assert poison_queue_name("q" * 60) is None  # the suffixed name would exceed 63 characters


def test_base64_decoding_is_strict():
    assert decode_body(base64.b64encode("héllo".encode()).decode(), "base64") == "héllo"
    with pytest.raises(DecodeError):
        decode_body('{"job": 1}', "base64")
    assert decode_body('{"job": 1}', "none") == '{"job": 1}'


def test_backoff_grows_with_jitter_up_to_the_maximum_and_resets():
    backoff = Backoff(timedelta(seconds=2), random.Random(7))
    delays = [backoff.next() for _ in range(10)]
    assert delays[0] < delays[1] < delays[2] < delays[3]
    assert max(delays) == 2.0
    assert all(0.1 <= d <= 2.0 for d in delays)
    assert backoff.reset() == 0.1
    assert backoff.next() < 0.5
