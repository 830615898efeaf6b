"""The node server's observed gauges: photos waiting in its batchers, and the GPU's use where there is one.

GPU figures come from NVML through `nvidia-ml-py` (the `pynvml` module) when it is installed and a driver
answers; on a CPU node, or without the package, the GPU gauges are simply not registered.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from opentelemetry.metrics import CallbackOptions, Observation

from batch_tasks import telemetry

log = logging.getLogger(__name__)


def register(waiting: Callable[[], int]) -> bool:
    """Register the gauges; returns whether the GPU ones are there."""
    meter = telemetry.meter()

    def depth(options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(waiting())]

    meter.create_observable_gauge("sitelens.node.queue.depth", [depth], unit="{photo}",
                                  description="Photos waiting for a batch on this node")  # fmt: skip
    nvml = _nvml()
    if nvml is None:
        return False

    def utilisation(options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(nvml.nvmlDeviceGetUtilizationRates(h).gpu / 100, {"gpu": i}) for i, h in _handles(nvml)]

    def memory(options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(nvml.nvmlDeviceGetMemoryInfo(h).used, {"gpu": i}) for i, h in _handles(nvml)]

    meter.create_observable_gauge("sitelens.node.gpu.utilization", [utilisation], unit="1",
                                  description="GPU busy fraction over the last sample period (NVML)")  # fmt: skip
    meter.create_observable_gauge("sitelens.node.gpu.memory.used", [memory], unit="By",
                                  description="GPU memory in use (NVML)")  # fmt: skip
    return True


def _nvml() -> Any:
    try:
        import pynvml  # type: ignore[import-not-found]  # noqa: PLC0415 (optional at run time)

        pynvml.nvmlInit()
    except Exception as exc:  # noqa: BLE001 (no package, no driver, no GPU: the gauges are left out)
        log.info("no GPU gauges: %s", exc)
        return None
    return pynvml


def _handles(nvml: Any) -> list[tuple[int, Any]]:
    return [(i, nvml.nvmlDeviceGetHandleByIndex(i)) for i in range(nvml.nvmlDeviceGetCount())]
