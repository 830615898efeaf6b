"""The start task's pure parts: the systemd unit and the environment the server gets."""

from __future__ import annotations

import pytest

from batch_tasks import start
from batch_tasks.node.settings import NodeSettings, NodeSettingsError


def test_the_unit_restarts_the_server_and_passes_only_its_settings() -> None:
    env = {"AZ_BATCH_NODE_SHARED_DIR": "/mnt/batch/tasks/shared", "SITELENS_MODELS_DIR": "/opt/m",
           "SITELENS_NODE_CLIENT_ID": "abc", "AWS_SECRET": "x", "PATH": "/usr/bin"}  # fmt: skip
    unit = start.unit_text(env)
    assert "Restart=always" in unit
    assert "WorkingDirectory=/mnt/batch/tasks/shared" in unit
    assert 'Environment="SITELENS_MODELS_DIR=/opt/m"' in unit
    assert 'Environment="SITELENS_NODE_CLIENT_ID=abc"' in unit
    assert "AWS_SECRET" not in unit
    assert "ExecStart=" in unit and "-m batch_tasks.node.server" in unit
    assert "WantedBy=multi-user.target" in unit


def test_settings_defaults_and_errors() -> None:
    s = NodeSettings.from_env({"AZ_BATCH_NODE_SHARED_DIR": "/n/shared"})
    assert str(s.socket) == "/n/shared/sitelens.sock"
    assert str(s.models_dir) == "/n/shared/models"
    assert s.provider == "auto" and s.max_batch == 8 and s.max_wait_s == 0.005
    assert s.warm_models == ("ocr/ppocrv4",)
    assert not s.storage.configured
    assert NodeSettings.from_env(
        {
            "AZ_BATCH_NODE_SHARED_DIR": "/n",
            "SITELENS_STORAGE_BLOB_URL": "https://a",
            "SITELENS_STORAGE_QUEUE_URL": "https://q",
        }
    ).storage.configured
    with pytest.raises(NodeSettingsError, match="AZ_BATCH_NODE_SHARED_DIR"):
        NodeSettings.from_env({})
    with pytest.raises(NodeSettingsError, match="SITELENS_PROVIDER"):
        NodeSettings.from_env({"AZ_BATCH_NODE_SHARED_DIR": "/n", "SITELENS_PROVIDER": "tpu"})
    with pytest.raises(NodeSettingsError, match="SITELENS_MAX_BATCH must be at least 1"):
        NodeSettings.from_env({"AZ_BATCH_NODE_SHARED_DIR": "/n", "SITELENS_MAX_BATCH": "0"})
