"""The node's one error tree: one table of codes (retryable, task exit), one translation of SDK errors at
the storage edge, documented in docs/node.md together with how each code reaches the app."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ServiceRequestError

from batch_tasks import errors
from batch_tasks.errors import (
    CODES,
    FINAL_ERRORS,
    INPUT_ERRORS,
    ModelUnavailable,
    NodeError,
    Overloaded,
    Stopped,
    UnknownModel,
)
from batch_tasks.node.storage import translate, translated
from shared.adapters.azure_errors import translate as app_translate
from shared.errors import TransientError
from shared.jobs.completion import NODE_ERRORS

REPO = Path(__file__).resolve().parents[3]
ROW = re.compile(r"^\| `([a-z_]+)` \| (yes|no) \| (\d) \| `([a-z_]+)`", re.MULTILINE)


def documented() -> dict[str, tuple[bool, int, str]]:
    text = (REPO / "docs" / "node.md").read_text()
    return {code: (retry == "yes", int(exit_), reason) for code, retry, exit_, reason in ROW.findall(text)}


def test_docs_list_every_code_with_its_retry_exit_code_and_app_reason():
    table = {code: (c.transient, c.exit_code) for code, c in CODES.items()}
    assert {code: row[:2] for code, row in documented().items()} == table
    for code, (_, _, reason) in documented().items():
        # Final failures cross as a completion message, the rest as the task's exit code in Batch's info.
        assert reason == (NODE_ERRORS[code] if code in FINAL_ERRORS else "task_failed")


def test_final_errors_are_permanent_and_exactly_what_the_app_reads_from_a_failed_completion():
    assert set(NODE_ERRORS) == FINAL_ERRORS and INPUT_ERRORS < FINAL_ERRORS
    assert all(not CODES[code].transient for code in FINAL_ERRORS)
    assert all(CODES[code].exit_code == errors.BAD_INPUT for code in INPUT_ERRORS)


def test_the_exit_codes_are_the_tasks_and_stay_what_batch_has_seen():
    assert (errors.OK, errors.USAGE, errors.BAD_INPUT, errors.STORAGE, errors.UNAVAILABLE, errors.INFERENCE) == (
        0, 2, 3, 4, 5, 6)  # fmt: skip
    assert {c.exit_code for c in CODES.values()} == {2, 3, 4, 5, 6}
    assert errors.exit_code("storage_transient") == 4 and errors.exit_code("a_newer_servers_code") == 6


def test_each_subclass_carries_its_code_and_a_reply_says_whether_to_retry():
    assert [e("x").code for e in (UnknownModel, ModelUnavailable, Overloaded, Stopped)] == [
        "unknown_model", "model_unavailable", "overloaded", "shutting_down"]  # fmt: skip
    assert NodeError("boom").reply() == {
        "ok": False, "error": {"code": "inference_failed", "message": "boom", "retryable": True}}  # fmt: skip
    assert NodeError("gone", code="input_missing").reply()["error"]["retryable"] is False
    with pytest.raises(ValueError, match="not a node error code"):
        NodeError("x", code="no_such_code")


def _http(status: int | None) -> HttpResponseError:
    exc = HttpResponseError(message="refused")
    exc.status_code = status
    return exc


@pytest.mark.parametrize(
    ("raised", "code"),
    [
        (_http(503), "storage_transient"),
        (_http(429), "storage_transient"),
        (_http(408), "storage_transient"),
        (ServiceRequestError("connection refused"), "storage_transient"),
        (_http(403), "storage_permanent"),
        (_http(404), "storage_permanent"),
        (ClientAuthenticationError("no token"), "storage_permanent"),
    ],
)
def test_the_storage_edge_translates_sdk_errors_into_storage_codes(raised, code):
    error = translate(raised, "writing results/j_a/result.json")
    assert error.code == code and error.transient is CODES[code].transient


@pytest.mark.parametrize("status", [None, 400, 401, 403, 404, 408, 409, 412, 429, 500, 501, 502, 503, 504, 505])
def test_the_node_and_the_app_retry_the_same_sdk_failures(status):
    node, app = translate(_http(status), "x"), app_translate(_http(status), "x")
    assert node.transient is isinstance(app, TransientError)
    assert translate(ServiceRequestError("refused"), "x").transient
    assert isinstance(app_translate(ServiceRequestError("refused"), "x"), TransientError)


def test_translated_covers_the_sdk_work_inside_it():
    def pages() -> Iterator[int]:  # a listing fails while it is iterated
        yield 1
        raise _http(500)

    with pytest.raises(NodeError) as caught, translated("downloading model ocr/v1"):
        list(pages())
    assert caught.value.code == "storage_transient" and isinstance(caught.value.__cause__, HttpResponseError)


def test_the_task_client_imports_no_sdk_and_nothing_of_the_app():
    probe = "import sys, batch_tasks.task; print(sorted({m.split('.')[0] for m in sys.modules}))"
    loaded = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True)
    assert not {"azure", "numpy", "cv2", "onnxruntime", "shared"} & set(ast.literal_eval(loaded.stdout))
