"""The node server's watchdog: when the GPU's context is poisoned, so that every run of every model fails, it stops
the server, and systemd (or the supervisor) starts it again with a fresh CUDA context.

A CUDA error such as an illegal memory access is sticky: it poisons the process's context, and every later run in
it raises, while the server looks healthy (health answers, `ready` is true). Each task sent to the node then fails
in a tenth of a second with `inference_failed`, and Batch's retries, which Pack scheduling keeps sending to the node
with the most free slots, are spent in seconds. Only a new process gets a new context.

A restart takes every model on the node down with it, so it is kept for the device's fault, never a model's own.
Counted: a run that failed whole with `inference_failed` on the GPU, with an error that names a sticky device fault
(`device_fault`), of a model that has read a photo since the server started (one that fails from its first photo on
is broken rather than its device, and restarting for it would take the node's other models down again and again).
The count is the node's, not a model's: any model's successful run on the GPU proves the device works and starts
it again (a model the CUDA provider did not take runs on the CPU, and proves nothing of the device).
Never counted: a run's other failures, such as a graph that takes one image but not a batch of four, or anything
on the CPU (its faults are the model's, and a restart mends none of them); a photo's own failure (`bad_input`,
`too_large`, decided before any run); the failures a batch is split for (`model_out_of_memory`,
`model_output_invalid`). Those neither count nor start the count again: they say nothing of the device.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

log = logging.getLogger("batch_tasks.server")
# Device faults in a row, with no successful run of any model between, that stop the server. Runs, not photos: a
# run fails every photo of its batch (up to SITELENS_MAX_BATCH) at once. One failed run may be a fluke the next run
# does not repeat; a poisoned context fails every run, so three in a row are the device, not luck, and at most three
# batches' tasks spend a Batch retry before the restart (seconds on a GPU: the warm models load again).
FAILED_RUNS_TO_RESTART = 3

# How ONNX Runtime's CUDA execution provider words the errors that poison a process's CUDA context. Its CudaCall
# formats "<CUDA|CUBLAS|CUDNN> failure <code>: <the library's error string> ; GPU=<n> ; hostname=... ; expr=...",
# and once the context is poisoned every later CUDA call in the process returns the same error, so every run of
# every model carries one of these. Left out on purpose: errors a model's own graph or shapes can cause while the
# context stays usable (e.g. "CUDA failure 1: invalid argument", CUBLAS_STATUS_NOT_SUPPORTED, CUDNN_STATUS_BAD_PARAM),
# and out of memory, which `serving.failure` reports as `model_out_of_memory` before a run is counted here.
DEVICE_FAULT = re.compile(
    "|".join(
        (
            r"illegal memory access",  # cudaErrorIllegalAddress (700): "an illegal memory access was encountered"
            r"device-side assert",  # cudaErrorAssert (710): "device-side assert triggered"
            r"unspecified launch failure",  # cudaErrorLaunchFailure (719): a kernel faulted on the device
            r"misaligned address",  # cudaErrorMisalignedAddress (716)
            r"illegal instruction",  # cudaErrorIllegalInstruction (715): "an illegal instruction was encountered"
            r"uncorrectable ECC error",  # cudaErrorECCUncorrectable (214): the GPU's memory itself failed
            r"launch timed out and was terminated",  # cudaErrorLaunchTimeout (702)
            r"hardware stack error",  # cudaErrorHardwareStackError (714)
            r"operation not supported on global/shared address space",  # cudaErrorInvalidAddressSpace (717)
            r"invalid program counter",  # cudaErrorInvalidPc (718)
            # the same faults by their CUDA runtime names, as cudaGetErrorName reports them
            r"cudaError(?:IllegalAddress|Assert|LaunchFailure|MisalignedAddress|IllegalInstruction|ECCUncorrectable"
            r"|LaunchTimeout|HardwareStackError|InvalidAddressSpace|InvalidPc)",
            # cuBLAS's and cuDNN's word for a kernel that could not run on the device: how a poisoned context shows
            # in a MatMul or Conv whose own CUDA call did not fail first
            r"CUBLAS_STATUS_EXECUTION_FAILED",
            r"CUDNN_STATUS_EXECUTION_FAILED",
        )
    )
)

Stop = Callable[[str], None]  # asks the server to stop, saying why


def device_fault(error: BaseException) -> bool:
    """Whether `error`, raised by a run on the GPU, says the process's CUDA context is poisoned."""
    return DEVICE_FAULT.search(str(error)) is not None


class Watchdog:
    def __init__(self, stop: Stop, limit: int = FAILED_RUNS_TO_RESTART) -> None:
        self._stop, self._limit = stop, limit
        self._served: set[str] = set()  # models that have read a photo since the server started
        # The device faults counted since any model's last successful run, oldest first. Every photo of a failed
        # batch gets the same exception object, so a batch's photos count once, as the one run they were, even
        # while another model's batch fails between them.
        self._faults: list[BaseException] = []

    def read(self, model_id: str, *, on_gpu: bool) -> None:
        """A photo of `model_id` was read; on the GPU, that proves the device works for every model (a model on the
        CPU, where `auto` put one the CUDA provider did not take, says nothing of it)."""
        self._served.add(model_id)
        if on_gpu:
            self._faults.clear()

    def run_failed(self, model_id: str, error: BaseException, *, on_gpu: bool) -> None:
        """A photo of `model_id` failed because its run raised `error` (`inference_failed`); `on_gpu`: the model
        runs on the CUDA execution provider."""
        if not on_gpu or model_id not in self._served or not device_fault(error):
            return
        if any(counted is error for counted in self._faults):
            return
        self._faults.append(error)
        if len(self._faults) == self._limit:
            why = (
                f"{len(self._faults)} runs in a row failed on a device fault, with no run of any model succeeding "
                f"between (last: {model_id}: {error})"
            )
            log.error("%s: stopping, to be started again on a fresh device context", why)
            self._stop(why)
