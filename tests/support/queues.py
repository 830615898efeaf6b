"""Fixed-name queues shared by every test on the session's Azurite, emptied where a test sets up."""

from __future__ import annotations

import contextlib

from azure.core.exceptions import ResourceExistsError
from azure.storage.queue import QueueClient


def emptied(connection: str, name: str) -> QueueClient:
    """The queue `name`, created if missing, with no message left in it.

    A queue whose name is fixed (the node's `completions`, the host's `webjobs-blobtrigger-poison` and the operator's
    queue after it) keeps what every earlier test left there, and a peek sees only the first 32 messages: once earlier
    tests have left 32, a test peeking for its own message never sees it. Emptied before the test's own messages
    are sent, the peek sees them."""
    queue = QueueClient.from_connection_string(connection, name)
    with contextlib.suppress(ResourceExistsError):
        queue.create_queue()
    queue.clear_messages()
    return queue
