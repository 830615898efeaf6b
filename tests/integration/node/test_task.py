"""`python -m batch_tasks.task` against a real node server and Azurite: artifacts, messages, exit codes."""

from __future__ import annotations

import contextlib
import hashlib
import json
import uuid
from pathlib import Path

import pytest
from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobServiceClient

from tests.integration.node.conftest import Node, completion_messages
from tests.integration.ocr import photos


def _job_id() -> str:
    return "j_" + uuid.uuid4().hex[:26]


def _photo(folder: Path, text: str) -> Path:
    image = photos.paper(720, 1280, seed=3)
    photos.write(image, text, (150, 320), 2.0, 4)
    path = folder / "input.jpg"
    path.write_bytes(photos.jpeg(image))
    return path


def _blob(storage: str, name: str) -> bytes:
    container, _, path = name.partition("/")
    service = BlobServiceClient.from_connection_string(storage)
    return service.get_blob_client(container, path).download_blob().readall()


def test_a_task_writes_its_result_and_overlay_and_posts_a_matching_completion(
    node: Node, storage: str, tmp_path: Path
) -> None:
    job = _job_id()
    done = node.task(job, str(_photo(tmp_path, "SERIAL 88213-A")), env={"AZ_BATCH_TASK_ID": job})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["lines"] == 1

    result = _blob(storage, f"results/{job}/result.json")
    doc = json.loads(result)
    assert doc["schema"] == "sitelens.ocr.result/1"
    assert doc["job_id"] == job
    assert doc["model"] == {"name": "ocr", "version": "ppocrv4"}
    assert [photos.canon(line["text"]) for line in doc["result"]["lines"]] == ["SERIAL88213-A"]
    assert doc["node"] == {"provider": "CPUExecutionProvider"}  # no attempt: a Batch task cannot know it
    assert _blob(storage, f"results/{job}/overlay.jpg")[:2] == b"\xff\xd8"

    [message] = completion_messages(storage, job)
    assert message["outcome"] == "succeeded"
    assert "attempt" not in message
    assert message["task_id"] == job
    assert message["result_path"] == f"{job}/result.json"  # the blob name in `results`, as the app reads it
    assert message["checksum"] == "sha256:" + hashlib.sha256(result).hexdigest()
    assert message["error"] is None


def test_a_rerun_overwrites_the_same_paths_and_claims_no_attempt(node: Node, storage: str, tmp_path: Path) -> None:
    job = _job_id()
    photo = str(_photo(tmp_path, "TANK 7"))
    assert node.task(job, photo).returncode == 0
    # A retry count in the environment is not Batch's (Azure sets none) and is not taken for one.
    again = node.task(job, photo, env={"AZ_BATCH_TASK_RETRY_COUNT": "1"})
    assert again.returncode == 0, again.stderr
    messages = completion_messages(storage, job)
    assert len(messages) == 2 and not any("attempt" in m for m in messages)
    service = BlobServiceClient.from_connection_string(storage)
    names = [b.name for b in service.get_container_client("results").list_blobs(name_starts_with=f"{job}/")]
    assert sorted(names) == [f"{job}/overlay.jpg", f"{job}/result.json"]
    # The newest message's checksum matches what is stored now.
    assert (
        messages[-1]["checksum"] == "sha256:" + hashlib.sha256(_blob(storage, f"results/{job}/result.json")).hexdigest()
    )


@pytest.mark.parametrize(
    ("content", "code"),
    [(b"GIF89a not a photo", "bad_input"), (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 40, "bad_input")],
)
def test_bad_input_exits_3_and_posts_a_failed_completion(
    node: Node, storage: str, tmp_path: Path, content: bytes, code: str
) -> None:
    job = _job_id()
    path = tmp_path / "input.jpg"
    path.write_bytes(content)
    done = node.task(job, str(path))
    assert done.returncode == 3, done.stderr
    [message] = completion_messages(storage, job)
    assert message["outcome"] == "failed"
    assert message["error"]["code"] == code
    assert message["checksum"] is None


def test_usage_errors_exit_2_without_a_message(node: Node, storage: str, tmp_path: Path) -> None:
    job = _job_id()
    missing = node.task(job, str(tmp_path / "absent.jpg"))
    assert missing.returncode == 2
    assert "input_missing" in missing.stderr
    no_id = node.task(env={"SITELENS_JOB_ID": ""})
    assert no_id.returncode == 2
    assert completion_messages(storage, job) == []


def test_an_unknown_model_exits_2_and_posts_a_failed_completion(node: Node, storage: str, tmp_path: Path) -> None:
    with contextlib.suppress(ResourceExistsError):  # the registry, as deployed; without it storage refuses the node
        BlobServiceClient.from_connection_string(storage).create_container("models")
    job = _job_id()
    unknown = node.task(job, str(_photo(tmp_path, "FAN")), env={"SITELENS_MODEL": "ocr/v0"})
    assert unknown.returncode == 2
    assert "unknown_model" in unknown.stderr
    [message] = completion_messages(storage, job)  # final for the job: told now, not after Batch's retries
    assert (message["outcome"], message["error"]["code"]) == ("failed", "unknown_model")


def test_the_naive_in_process_task_gives_the_same_text(node: Node, storage: str, tmp_path: Path) -> None:
    job = _job_id()
    done = node.task(job, str(_photo(tmp_path, "VALVE V-22")), "--in-process", timeout=180)
    assert done.returncode == 0, done.stderr
    doc = json.loads(_blob(storage, f"results/{job}/result.json"))
    assert [photos.canon(line["text"]) for line in doc["result"]["lines"]] == ["VALVE V-22".replace(" ", "")]
    [message] = completion_messages(storage, job)
    assert message["outcome"] == "succeeded"
