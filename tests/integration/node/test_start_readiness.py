"""The start task fails a node whose server became ready without one of its warm models: Batch then marks the
node `starttaskfailed` instead of sending it tasks that all fail (say `SITELENS_PROVIDER=cuda` where ONNX
Runtime has no CUDA: the model is not served, the server reports ready all the same)."""

from __future__ import annotations

from pathlib import Path

from tests.integration.node.conftest import Node, node_env
from tests.integration.node.test_model_kinds import _unloadable
from tests.support.onnx_models import write_classify_model

GOOD, UNLOADABLE = "colours/1.0.0", "unloadable/1.0.0"


def test_a_warm_model_that_does_not_load_fails_the_start_with_the_servers_log(tmp_path: Path) -> None:
    models = tmp_path / "models"
    write_classify_model(models / "colours" / "1.0.0")
    _unloadable(models / "unloadable" / "1.0.0")
    shared = tmp_path / "shared"
    env = node_env(shared, SITELENS_MODELS_DIR=str(models), SITELENS_WARM_MODELS=f"{GOOD},{UNLOADABLE}")
    node = Node(shared, env)
    try:
        started = node.start(timeout=120)
        assert started.returncode == 1, started
        assert f"warm models not served: {UNLOADABLE}" in started.stderr
        assert f"model {UNLOADABLE} is not served" in started.stderr  # the server's log says why
        health = node.health()  # the server stays up: a later fix of the model, then a reboot, needs no clean-up
        assert health["ready"] is True and [m["id"] for m in health["models"]] == [GOOD]

        # A re-run does not take the same server for a healthy one: it restarts it, and the model fails again.
        again = node.start(timeout=120)
        assert again.returncode == 1 and "already running" not in again.stdout, again
        assert f"ready without {UNLOADABLE}; restarting it" in again.stdout
        assert f"warm models not served: {UNLOADABLE}" in again.stderr
    finally:
        node.stop()
