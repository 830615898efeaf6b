"""Choosing execution providers and the options every session gets (no model needed)."""

from __future__ import annotations

import pytest

from batch_tasks.ocr import sessions


def test_auto_picks_cuda_only_where_the_build_offers_it(monkeypatch):
    monkeypatch.setattr(sessions, "available", lambda: ["CPUExecutionProvider"])
    cpu = sessions.resolve(None)
    assert cpu.providers == ("CPUExecutionProvider",) and not cpu.cuda and cpu.threads >= 1
    monkeypatch.setattr(sessions, "available", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    gpu = sessions.resolve(None, gpu_mem_limit=1 << 30)
    assert gpu.providers == ("CUDAExecutionProvider", "CPUExecutionProvider") and gpu.cuda
    assert gpu.threads == 1 and gpu.gpu_mem_limit == 1 << 30  # GPU sessions run only small host-side ops


def test_a_requested_provider_is_required(monkeypatch):
    monkeypatch.setattr(sessions, "available", lambda: ["CPUExecutionProvider"])
    with pytest.raises(sessions.ProviderError, match="CUDAExecutionProvider"):
        sessions.resolve(["CUDAExecutionProvider", "CPUExecutionProvider"])
    assert sessions.resolve(["CPUExecutionProvider"], threads=3).threads == 3


def test_cuda_gets_heuristic_search_and_a_bounded_arena():
    runtime = sessions.RuntimeOptions(("CUDAExecutionProvider", "CPUExecutionProvider"), 1, device_id=2)
    (name, options), cpu = sessions._provider_list(runtime)
    assert name == "CUDAExecutionProvider" and cpu == "CPUExecutionProvider"
    assert options["cudnn_conv_algo_search"] == "HEURISTIC"
    assert options["arena_extend_strategy"] == "kSameAsRequested"
    assert options["gpu_mem_limit"] == str(sessions.GPU_MEM_LIMIT) and options["device_id"] == "2"


def test_session_options_do_not_spin_and_use_the_given_threads():
    options = sessions._session_options(3)
    assert options.intra_op_num_threads == 3 and options.inter_op_num_threads == 1
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
