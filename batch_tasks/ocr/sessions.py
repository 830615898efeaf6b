"""ONNX Runtime sessions: which execution provider, and the options every session gets.

CUDA options (see ONNX Runtime's CUDA EP docs):

- `cudnn_conv_algo_search=HEURISTIC`: cuDNN's default EXHAUSTIVE search benchmarks every convolution for each
  new input shape (0.3-1.3 s each); with fixed buckets warmed at start-up the heuristic choice is as fast.
- `arena_extend_strategy=kSameAsRequested` and a `gpu_mem_limit` per session: the default arena grows in
  powers of two and never shrinks, so a bounded arena that grows only as asked keeps several sessions on one GPU.

Session options: full graph optimisation, sequential execution with one inter-op thread, idle threads that do
not spin (JPEG decoding needs those cores), and warnings-only logging. The CPU memory arena stays on: input
shapes come from a small fixed set (size buckets times batch sizes), so it grows to the largest and stays there.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnxruntime as ort  # type: ignore[import-untyped]

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
# Bytes per session. Not yet measured on a GPU; `warm` runs the largest shapes first, so a limit that is too
# small fails at start-up, not on a photo.
GPU_MEM_LIMIT = 8 << 30
log = logging.getLogger(__name__)


class ProviderError(RuntimeError):
    """An execution provider that was asked for is not available or did not take the model."""


@dataclass(frozen=True)
class RuntimeOptions:
    providers: tuple[str, ...]  # in preference order, e.g. (CUDA, CPU) or (CPU,)
    threads: int  # intra-op threads per session
    device_id: int = 0
    gpu_mem_limit: int = GPU_MEM_LIMIT  # bytes per session
    cudnn_conv_algo_search: str = "HEURISTIC"

    @property
    def cuda(self) -> bool:
        return CUDA in self.providers


def available() -> list[str]:
    return list(ort.get_available_providers())


def resolve(
    requested: Sequence[str] | None,
    threads: int | None = None,
    *,
    device_id: int = 0,
    gpu_mem_limit: int | None = None,
) -> RuntimeOptions:
    """Runtime options for `requested` providers; None means CUDA when this build offers it, else CPU.

    Raises:
        ProviderError: a requested provider is not in this ONNX Runtime build.
    """
    offered = available()
    providers: tuple[str, ...]
    if requested is None:
        providers = (CUDA, CPU) if CUDA in offered else (CPU,)
    else:
        missing = [p for p in requested if p not in offered]
        if missing or not requested:
            raise ProviderError(f"providers {missing or requested} are not available (this build has {offered})")
        providers = tuple(requested)
    if threads is None:
        # GPU sessions only run small host-side ops; CPU sessions get the cores.
        threads = 1 if CUDA in providers else max(1, os.cpu_count() or 1)
    limit = GPU_MEM_LIMIT if gpu_mem_limit is None else gpu_mem_limit
    return RuntimeOptions(providers, threads, device_id=device_id, gpu_mem_limit=limit)


def _session_options(threads: int) -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def _provider_list(runtime: RuntimeOptions) -> list[Any]:
    providers: list[Any] = []
    for name in runtime.providers:
        if name == CUDA:
            cuda_options = {
                "device_id": str(runtime.device_id),
                "cudnn_conv_algo_search": runtime.cudnn_conv_algo_search,
                "arena_extend_strategy": "kSameAsRequested",
                "gpu_mem_limit": str(runtime.gpu_mem_limit),
                "do_copy_in_default_stream": "1",
            }
            providers.append((CUDA, cuda_options))
        else:
            providers.append(name)
    return providers


_preloaded = False


def _preload_cuda() -> None:
    """Load CUDA/cuDNN from pip's nvidia-* wheels where they come from there (a no-op elsewhere)."""
    global _preloaded  # noqa: PLW0603 - once per process
    if not _preloaded and hasattr(ort, "preload_dlls"):
        ort.preload_dlls()
        _preloaded = True


def create(path: Path, runtime: RuntimeOptions) -> ort.InferenceSession:
    """A session for the model at `path`; it runs on `runtime.providers[0]` or this raises.

    Raises:
        ProviderError: ONNX Runtime fell back to another provider (it does so silently when, say, the CUDA
            libraries are missing).
    """
    if runtime.cuda:
        _preload_cuda()
    session = ort.InferenceSession(str(path), _session_options(runtime.threads), providers=_provider_list(runtime))
    active = list(session.get_providers())
    if not active or active[0] != runtime.providers[0]:
        raise ProviderError(f"{path.name}: asked for {runtime.providers[0]}, ONNX Runtime runs it on {active}")
    return session
