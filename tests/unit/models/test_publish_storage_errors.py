"""`sitelens models publish` meets storage it cannot reach: the container check is translated like every
other storage call, so the command prints its one "not published" line instead of an SDK traceback."""

from __future__ import annotations

import socket

import pytest
from azure.storage.blob import BlobServiceClient

from shared.config import DEV_KEY
from shared.errors import SitelensError, TransientError
from sitelens import model_storage


def closed_port() -> int:
    with socket.socket() as s:  # bound, then closed: nothing listens there
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_models_container_on_unreachable_storage_is_a_transient_sitelens_error() -> None:
    url = f"http://127.0.0.1:{closed_port()}/devstoreaccount1"
    service = BlobServiceClient(url, credential={"account_name": "devstoreaccount1", "account_key": DEV_KEY},
                                retry_total=0)  # fmt: skip
    with pytest.raises(TransientError) as raised:
        model_storage.models_container(service)
    assert isinstance(raised.value, SitelensError) and "models" in str(raised.value)
