"""The start task refuses a GPU node whose NVIDIA driver is older than the package's CUDA 13 runtime needs (r580):
ONNX Runtime would fall back to the CPU or fail every photo, while Batch took the node for a healthy one."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from batch_tasks.node import nvidia


def _nvidia_smi(folder: Path, output: str, code: int = 0) -> str:
    """A stand-in `nvidia-smi` that prints `output` for the driver query (one line per GPU)."""
    path = folder / "nvidia-smi"
    path.write_text(f"#!/bin/sh\nprintf '%s' {shlex.quote(output)}\nexit {code}\n")
    path.chmod(0o755)
    return str(path)


def test_a_driver_older_than_r580_fails_the_start_with_both_versions_named(tmp_path: Path) -> None:
    smi = _nvidia_smi(tmp_path, "560.35.03\n")
    for provider in ("cuda", "auto"):
        problem = nvidia.driver_problem(provider, smi, cuda_build=True)
        assert problem is not None and "560.35.03" in problem and "580" in problem


@pytest.mark.parametrize("versions", ["580.95.05\n", "580.126.16\n", "590.48.01\n590.48.01\n"])
def test_drivers_from_r580_pass(tmp_path: Path, versions: str) -> None:
    assert nvidia.driver_problem("cuda", _nvidia_smi(tmp_path, versions), cuda_build=True) is None


def test_one_old_driver_among_the_gpus_fails(tmp_path: Path) -> None:
    problem = nvidia.driver_problem("auto", _nvidia_smi(tmp_path, "580.95.05\n570.1.2\n"), cuda_build=True)
    assert problem is not None and "570.1.2" in problem


def test_the_driver_is_not_checked_where_cuda_is_not_used(tmp_path: Path) -> None:
    old = _nvidia_smi(tmp_path, "560.35.03\n")
    assert nvidia.driver_problem("cpu", old, cuda_build=True) is None
    assert nvidia.driver_problem("cuda", old, cuda_build=False) is None  # the CPU build of ONNX Runtime (locally)


def test_auto_runs_on_the_cpu_without_a_working_driver_but_cuda_refuses(tmp_path: Path) -> None:
    broken = _nvidia_smi(tmp_path, "NVIDIA-SMI has failed because it couldn't communicate with the driver", 9)
    assert nvidia.driver_problem("auto", None, cuda_build=True) is None
    assert nvidia.driver_problem("auto", broken, cuda_build=True) is None
    assert "not on PATH" in str(nvidia.driver_problem("cuda", None, cuda_build=True))
    assert "couldn't communicate" in str(nvidia.driver_problem("cuda", broken, cuda_build=True))
