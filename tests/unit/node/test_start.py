"""The start task's pure parts: the systemd unit and the environment the server gets."""

from __future__ import annotations

import pytest

from batch_tasks import start
from batch_tasks.node.settings import NodeSettings, NodeSettingsError
from batch_tasks.node.shutdown import DRAIN_S


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


def _sections(unit: str) -> dict[str, dict[str, str]]:
    sections: dict[str, dict[str, str]] = {}
    for line in unit.splitlines():
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
        elif "=" in line:
            key, value = line.split("=", 1)
            current[key] = value
    return sections


def test_the_unit_gives_up_on_a_server_that_keeps_crashing() -> None:
    """systemd's default start limit (5 starts in 10 s) never trips with a 2 s restart delay and a server that takes
    seconds to crash: the unit's own limit must, or a broken server restarts forever."""
    unit = _sections(start.unit_text({"AZ_BATCH_NODE_SHARED_DIR": "/n"}))
    burst, interval = int(unit["Unit"]["StartLimitBurst"]), float(unit["Unit"]["StartLimitIntervalSec"])
    restart_s = float(unit["Service"]["RestartSec"])
    assert burst == 5 and interval == 60 and restart_s == 2
    assert burst * restart_s < interval  # the burst's restart delays alone fit in the interval: it can trip
    assert "StartLimitBurst" not in unit["Service"]  # systemd reads the limit in [Unit] only


def test_the_unit_gives_a_stopped_server_longer_than_its_wait_for_the_requests_in_flight() -> None:
    """Stopped before its wait is over, the server's requests in flight would be killed with it."""
    unit = _sections(start.unit_text({"AZ_BATCH_NODE_SHARED_DIR": "/n"}))
    assert float(unit["Service"]["TimeoutStopSec"]) > DRAIN_S


def _settings(warm: str, cache: int) -> NodeSettings:
    env = {"AZ_BATCH_NODE_SHARED_DIR": "/n", "SITELENS_WARM_MODELS": warm, "SITELENS_MODEL_CACHE": str(cache)}
    return NodeSettings.from_env(env)


def test_a_warm_model_the_ready_server_does_not_serve_is_missing() -> None:
    def served(*ids: str) -> dict[str, object]:
        return {"ready": True, "models": [{"id": i, "provider": "CPUExecutionProvider"} for i in ids]}

    settings = _settings("ocr/ppocrv4,colours/1.0.0", cache=2)
    assert start.missing_warm_models(served("ocr/ppocrv4", "colours/1.0.0"), settings) == []
    assert start.missing_warm_models(served("ocr/ppocrv4"), settings) == ["colours/1.0.0"]
    assert start.missing_warm_models({"ready": True, "models": []}, settings) == ["ocr/ppocrv4", "colours/1.0.0"]
    # More warm models than the cache keeps: the warm-up's later models evict the first, which is not missing.
    three = _settings("a/1,b/1,c/1", cache=2)
    assert start.missing_warm_models(served("b/1", "c/1"), three) == []
    assert start.missing_warm_models(served("c/1"), three) == ["b/1"]


@pytest.mark.parametrize(("value", "said"), [("four", "must be an integer, not 'four'"), ("-2", "must be at least 1"),
                                             ("0", "must be at least 1"), ("1.5", "must be an integer")])  # fmt: skip
def test_intra_op_threads_are_a_whole_number_of_at_least_one_named_when_not(value: str, said: str) -> None:
    with pytest.raises(NodeSettingsError, match=f"SITELENS_INTRA_OP_THREADS {said}"):
        NodeSettings.from_env({"AZ_BATCH_NODE_SHARED_DIR": "/n", "SITELENS_INTRA_OP_THREADS": value})


@pytest.mark.parametrize(("value", "threads"), [(None, None), ("", None), ("1", 1), ("16", 16)])
def test_intra_op_threads_unset_mean_all_cores(value: str | None, threads: int | None) -> None:
    env = {"AZ_BATCH_NODE_SHARED_DIR": "/n"} | ({} if value is None else {"SITELENS_INTRA_OP_THREADS": value})
    assert NodeSettings.from_env(env).intra_op_threads == threads


def test_warm_models_are_model_ids_with_the_spaces_around_them_dropped():
    shared = {"AZ_BATCH_NODE_SHARED_DIR": "/n"}
    settings = NodeSettings.from_env({**shared, "SITELENS_WARM_MODELS": " ocr/ppocrv4 , detect/pipes-1.0 ,"})
    assert settings.warm_models == ("ocr/ppocrv4", "detect/pipes-1.0")
    with pytest.raises(NodeSettingsError, match="SITELENS_WARM_MODELS must list model ids"):
        NodeSettings.from_env({**shared, "SITELENS_WARM_MODELS": "ocr/ppocrv4,ppocrv4"})
