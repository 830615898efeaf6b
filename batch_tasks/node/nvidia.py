"""The start task's check of a GPU node's NVIDIA driver against the CUDA runtime this package's ONNX Runtime loads:
a node booted from an image with an older driver would fall back to the CPU or fail every photo while Batch took it
for a healthy one, so the start task refuses it (docs/node.md#the-start-task, docs/deploy.md, Node image).
"""

from __future__ import annotations

import importlib.metadata
import subprocess

# onnxruntime-gpu 1.31 loads the CUDA 13 runtime (batch_tasks/requirements.txt), which needs driver r580+.
MIN_DRIVER_MAJOR = 580


def driver_problem(provider: str, nvidia_smi: str | None, cuda_build: bool) -> str | None:
    """Why this node's NVIDIA driver cannot run the package's CUDA runtime, or None. Checked only where ONNX
    Runtime's CUDA build is installed and CUDA may be used: with `auto` a node without a working driver runs
    on the CPU, with `cuda` it is refused."""
    if provider == "cpu" or not cuda_build:
        return None
    if nvidia_smi is None:
        return None if provider == "auto" else "SITELENS_PROVIDER=cuda, but nvidia-smi is not on PATH: no NVIDIA driver"
    query = [nvidia_smi, "--query-gpu=driver_version", "--format=csv,noheader"]
    try:
        found = subprocess.run(query, capture_output=True, text=True, timeout=60, check=False)
        versions = [line.strip() for line in found.stdout.splitlines() if line.strip()]
        majors = [int(v.split(".")[0]) for v in versions]
    except (OSError, subprocess.TimeoutExpired, ValueError) as exc:
        return None if provider == "auto" else f"SITELENS_PROVIDER=cuda, but nvidia-smi failed: {exc}"
    if found.returncode != 0 or not majors:
        why = (found.stderr or found.stdout).strip() or f"exit {found.returncode}"
        return None if provider == "auto" else f"SITELENS_PROVIDER=cuda, but nvidia-smi found no GPU: {why}"
    if min(majors) < MIN_DRIVER_MAJOR:
        return (f"the NVIDIA driver is {versions[majors.index(min(majors))]}; this package's CUDA 13 runtime needs "
                f"driver {MIN_DRIVER_MAJOR} or newer: boot the pool from an image that carries it (docs/deploy.md, "
                "Node image)")  # fmt: skip
    return None


def cuda_build() -> bool:
    """Whether ONNX Runtime's CUDA build (`onnxruntime-gpu`, as on a node) is installed."""
    try:
        importlib.metadata.distribution("onnxruntime-gpu")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True
