"""The webhook store on Azurite: every storage error leaves it translated by the one mapping, never raw."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from azure.data.tables import TableServiceClient

from emulators.azurite import free_port
from shared.adapters.azure_webhook_store import TableWebhookStore
from shared.errors import Conflict, NotFound, PermanentError, TransientError
from shared.webhooks.models import SigningSecret, Subscription

pytestmark = pytest.mark.integration


def subscription(url: str = "http://127.0.0.1:9/hook") -> Subscription:
    return Subscription("sub_" + "1" * 32, url, "*", frozenset({"job.failed"}), (SigningSecret("s"),),
                        datetime.now(UTC))  # fmt: skip


@pytest.fixture
def store(storage_connection: str, unique: str) -> TableWebhookStore:
    return TableWebhookStore(TableServiceClient.from_connection_string(storage_connection), prefix=f"t{unique}")


def test_a_property_storage_refuses_is_a_permanent_error_with_a_reason(store):
    # Validation keeps such a URL out; were one to reach storage, the 400 from Table storage is translated.
    with pytest.raises(PermanentError) as caught:
        store.add_subscription(subscription("http://127.0.0.1/" + "a" * 100_000))
    assert caught.value.reason == "service_refused" and not isinstance(caught.value, TransientError)
    assert store.list_subscriptions() == []


def test_missing_and_duplicate_rows_are_not_found_and_conflict(store):
    with pytest.raises(NotFound):
        store.get_subscription("sub_" + "2" * 32)
    with pytest.raises(NotFound):
        store.delete_subscription("sub_" + "2" * 32)
    assert store.add_subscription(subscription()) is None
    assert store.add_subscription(subscription()) == subscription().id  # its registration is held: by itself
    with pytest.raises(Conflict):  # another registration, but the id is taken
        store.add_subscription(subscription("http://127.0.0.1:9/other"))


def test_storage_that_does_not_answer_is_transient(storage_connection):
    closed = f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={'a' * 88};" \
             f"TableEndpoint=http://127.0.0.1:{free_port()}/devstoreaccount1;"  # fmt: skip
    with pytest.raises(TransientError):
        TableWebhookStore(TableServiceClient.from_connection_string(closed, retry_total=0))
