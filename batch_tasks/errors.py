"""The node's one error tree, and the table that says what each failure means to Batch. Standard library only:
the task client imports it.

    NodeError(code)          one request failed; `code` is the reply's error code on the socket
    ├── UnknownModel         unknown_model: a malformed id, or no such version locally or in the registry (its
    │                        listing has no manifest; a registry that refuses the node is storage_permanent)
    ├── ModelUnavailable     model_unavailable: the version exists but did not download, verify or load
    ├── ModelNotServed       model_not_served: this node's package does not serve the model's kind or output format
    ├── ModelOutputInvalid   model_output_invalid: the graph's output does not match its manifest
    ├── ModelOutOfMemory     model_out_of_memory: ONNX Runtime could not allocate for this model's run
    ├── Overloaded           overloaded: the model's queue is full
    └── Stopped              shutting_down: the batcher stopped before the photo ran
    (the other codes are raised as NodeError(code) where they arise: bad_request, bad_input, too_large,
     input_missing, inference_failed, and storage_transient / storage_permanent from the storage edge,
     `batch_tasks.node.storage.translate`, the node's one mapping of Azure SDK errors)

`CODES` is the one table: whether a retry of the same request can help (`transient`, sent on the wire as
`retryable`), and the task's exit code for it. Whether anything retries depends on that flag alone, as
`TransientError` decides it in the app. The node is deployed apart from the Functions app and never imports
`shared/`; docs/node.md says how the two trees correspond.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# The task's exit codes: stable, Batch's failure information and the reconciler's detail carry them.
OK, USAGE, BAD_INPUT, STORAGE, UNAVAILABLE, INFERENCE = 0, 2, 3, 4, 5, 6


@dataclass(frozen=True)
class Code:
    transient: bool  # a retry of the same request may succeed
    exit_code: int  # what `python -m batch_tasks.task` exits with


CODES: dict[str, Code] = {
    "bad_request": Code(transient=False, exit_code=USAGE),  # the request itself is malformed
    "input_missing": Code(transient=False, exit_code=USAGE),  # the path does not exist on this node
    "unknown_model": Code(transient=False, exit_code=USAGE),  # no such model in the registry
    "storage_permanent": Code(transient=False, exit_code=USAGE),  # storage refused (auth, missing container)
    "bad_input": Code(transient=False, exit_code=BAD_INPUT),  # the photo is not an image we read
    "too_large": Code(transient=False, exit_code=BAD_INPUT),  # over the pixel cap
    "storage_transient": Code(transient=True, exit_code=STORAGE),  # throttled, timed out, 5xx, unreachable
    "model_unavailable": Code(transient=True, exit_code=UNAVAILABLE),  # download, verification or provider failed
    "model_not_served": Code(transient=False, exit_code=USAGE),  # the node's package is older than the model's kind
    "overloaded": Code(transient=True, exit_code=UNAVAILABLE),  # the server's queue is full
    "shutting_down": Code(transient=True, exit_code=UNAVAILABLE),
    "inference_failed": Code(transient=True, exit_code=INFERENCE),  # ONNX Runtime raised while reading
    "model_output_invalid": Code(transient=False, exit_code=INFERENCE),  # the model is broken: no retry helps
    "model_out_of_memory": Code(transient=True, exit_code=INFERENCE),  # a later, smaller batch may fit
}
# Failures of the photo itself: no retry can help.
INPUT_ERRORS = frozenset({"bad_input", "too_large"})
# Failures final for the job: the server posts a `failed` completion at once rather than let Batch spend the
# task's retries on them, and the node's code becomes the job's reason. A broken model gives the same output on
# every attempt; a version the registry does not have (its manifest, the commit point of a publish, is absent,
# and a model is routed to only once published) or a kind this package does not serve fails alike on every node
# of this release. Their exit codes stay what Batch has seen: its retries then meet a job already ended.
FINAL_ERRORS = INPUT_ERRORS | {"model_output_invalid", "unknown_model", "model_not_served"}


class NodeError(Exception):
    code = "inference_failed"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            if code not in CODES:
                raise ValueError(f"{code!r} is not a node error code")
            self.code = code
        self.message = message

    @property
    def transient(self) -> bool:
        return CODES[self.code].transient

    def reply(self) -> dict[str, Any]:
        """The protocol's error reply."""
        return {"ok": False, "error": {"code": self.code, "message": self.message, "retryable": self.transient}}


class UnknownModel(NodeError):
    """A malformed model id, or a version neither on the node nor in the registry (the registry raises it)."""

    code = "unknown_model"


class ModelUnavailable(NodeError):
    """The version exists but did not download, verify or load; another attempt may find it whole."""

    code = "model_unavailable"


class ModelNotServed(NodeError):
    """The version's manifest names a kind or an output format this node's package does not serve (a model
    published by a newer package): no attempt on this node can load it; the nodes need a package that does."""

    code = "model_not_served"


class ModelOutputInvalid(NodeError):
    """The graph's output does not have the shape or values its manifest promises (a broken model version)."""

    code = "model_output_invalid"


class ModelOutOfMemory(NodeError):
    """ONNX Runtime could not allocate memory for this model's run (its arena cap, or the device's memory)."""

    code = "model_out_of_memory"


class Overloaded(NodeError):
    """The model's batcher queue is full (SITELENS_MAX_QUEUE): this request fails, the next may not."""

    code = "overloaded"


class Stopped(NodeError):
    """The batcher stopped (the model was evicted or the server is stopping) before the photo ran."""

    code = "shutting_down"


def storage_error(message: str, *, transient: bool) -> NodeError:
    return NodeError(message, code="storage_transient" if transient else "storage_permanent")


def exit_code(code: str) -> int:
    """The task's exit for a reply's error code; an unknown code (a newer server) counts as an inference failure."""
    return CODES[code].exit_code if code in CODES else INFERENCE
