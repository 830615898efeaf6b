"""The `completions` queue is shared by every module on the session's Azurite and nothing drains it, while
`completion_messages` peeks at most 32 messages: a module's own completions are seen however many earlier
modules left, because the module's `storage` fixture empties the queue first."""

from __future__ import annotations

import json

import pytest
from azure.storage.queue import QueueClient, TextBase64EncodePolicy

from emulators.azurite import Azurite
from tests.integration.node.conftest import completion_messages
from tests.support.queues import emptied

pytestmark = pytest.mark.integration


def test_a_module_sees_its_own_completion_after_more_than_a_peek_of_earlier_ones(
    azurite: Azurite, request: pytest.FixtureRequest
) -> None:
    emptied(azurite.connection_string, "completions")  # exactly what follows, whatever ran before
    earlier = QueueClient.from_connection_string(
        azurite.connection_string, "completions", message_encode_policy=TextBase64EncodePolicy()
    )  # as the node sends
    for n in range(40):  # more than one peek: what the node tests of earlier modules left
        earlier.send_message(json.dumps({"job_id": f"j_earlier_{n}", "state": "succeeded"}))
    storage: str = request.getfixturevalue("storage")  # this module's set-up, after the earlier modules'
    earlier.send_message(json.dumps({"job_id": "j_this_module", "state": "succeeded"}))
    assert completion_messages(storage, "j_this_module") == [{"job_id": "j_this_module", "state": "succeeded"}]
