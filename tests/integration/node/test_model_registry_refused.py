"""`unknown_model` is final for a job (the node fails it at once), so a node says it only when the registry answered
that it has no such version. Storage refusing the node itself (a wrong key here; a role not yet assigned, in
Azure) says nothing of the model: `storage_permanent`, which does not end the job at once."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.node.conftest import Node, node_env


@pytest.fixture
def refused_node(tmp_path: Path, storage: str) -> Iterator[Node]:
    """A node whose storage answers every request with 403: its key is not the account's."""
    wrong_key = base64.b64encode(b"not this account's key").decode()
    refused = re.sub(r"AccountKey=[^;]+", f"AccountKey={wrong_key}", storage)
    assert refused != storage
    shared = tmp_path / "shared"
    env = node_env(shared, SITELENS_STORAGE_CONNECTION=refused, SITELENS_MODELS_DIR=str(tmp_path / "models"),
                   SITELENS_WARM_MODELS="")  # fmt: skip
    with Node(shared, env).running() as n:
        yield n


def test_a_registry_that_refuses_the_node_is_storage_permanent_not_an_unknown_model(
    refused_node: Node, tmp_path: Path
) -> None:
    photo = tmp_path / "input.jpg"
    photo.write_bytes(b"\xff\xd8\xff")  # never read: the model is looked up first
    reply = refused_node.call({"op": "read", "model": "ocr/ppocrv4", "path": str(photo)})
    assert reply["ok"] is False
    assert (reply["error"]["code"], reply["error"]["retryable"]) == ("storage_permanent", False), reply
    assert "downloading model ocr/ppocrv4: HTTP 403" in reply["error"]["message"]
