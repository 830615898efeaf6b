"""The node server's watchdog: a model whose runs keep failing whole, after it had read photos, stops the server,
so that systemd (or the supervisor) starts it again with a fresh CUDA context.

A CUDA error such as an illegal memory access is sticky: it poisons the process's context, and every later run in
it raises, while the server looks healthy (health answers, `ready` is true). Each task sent to the node then fails
in a tenth of a second with `inference_failed`, and Batch's retries, which Pack scheduling keeps sending to the node
with the most free slots, are spent in seconds. Only a new process gets a new context.

Counted: runs that failed whole with `inference_failed` (ONNX Runtime raised). Never counted: a photo's own failure
(`bad_input`, `too_large`, decided before any run), and the failures a batch is split for (`model_out_of_memory`,
`model_output_invalid`: one photo's doing, or a broken model, which a restart does not mend). Nor a model that has
not read a photo since the server started: one that fails from its first photo on is broken rather than its device,
and restarting for it would only take the node's other models down with it, again and again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger("batch_tasks.server")
# Failed runs in a row, with no photo read between, that stop the server. Runs, not photos: a run fails every photo
# of its batch (up to SITELENS_MAX_BATCH) at once. One failed run may be a fluke the next run does not repeat; a
# poisoned context fails every run, so three in a row are the device, not luck, and at most three batches' tasks
# spend a Batch retry before the restart (seconds on a GPU: the warm models load again).
FAILED_RUNS_TO_RESTART = 3

Stop = Callable[[str], None]  # asks the server to stop, saying why


class Watchdog:
    def __init__(self, stop: Stop, limit: int = FAILED_RUNS_TO_RESTART) -> None:
        self._stop, self._limit = stop, limit
        self._served: set[str] = set()  # models that have read a photo since the server started
        self._failed_runs: dict[str, int] = {}  # model -> runs failed in a row since its last photo read
        # model -> the error of its last counted run: every photo of a failed batch gets the same exception object,
        # so a batch's photos count once, as the one run they were.
        self._last_error: dict[str, BaseException] = {}

    def read(self, model_id: str) -> None:
        """A photo of `model_id` was read: its runs work, whatever failed before."""
        self._served.add(model_id)
        self._failed_runs.pop(model_id, None)
        self._last_error.pop(model_id, None)

    def run_failed(self, model_id: str, error: BaseException) -> None:
        """A photo of `model_id` failed because its run raised (`inference_failed`)."""
        if model_id not in self._served or self._last_error.get(model_id) is error:
            return
        self._last_error[model_id] = error
        failed = self._failed_runs[model_id] = self._failed_runs.get(model_id, 0) + 1
        if failed == self._limit:
            why = f"{model_id} failed {failed} runs in a row after reading photos (last: {error})"
            log.error("%s: stopping, to be started again on a fresh device context", why)
            self._stop(why)
