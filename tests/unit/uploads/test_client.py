"""`sitelens upload` with a scripted API and storage: blocks, retries, resume, ids and the report."""

from __future__ import annotations

import argparse
import io
import json
from datetime import datetime
from typing import Any

import pytest
from azure.core.exceptions import ResourceModifiedError, ServiceRequestError

from shared.jobs import ids
from sitelens import upload, upload_command
from sitelens.upload_progress import Progress, plan_blocks, staged_blocks
from tests.unit.uploads.fakes import ScriptedStorage, http_error

JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 40  # 10,244 bytes: three 4 KiB blocks
BLOCK = 4096
NAME = "s1/d1/2026/11/22/p1.jpg"


class Api:
    """POST /uploads: scripted replies ((status, doc), or an Answer with its Retry-After), then the normal grant."""

    def __init__(
        self, *replies: tuple[int, dict[str, Any]] | upload.Answer | Exception, staged: list[Any] | None = None
    ) -> None:
        self.replies, self.uploaded, self.staged = list(replies), False, staged or []
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, body: dict[str, Any]) -> upload.Answer:
        self.bodies.append(body)
        if self.replies:
            reply = self.replies.pop(0)
            if isinstance(reply, Exception):
                raise reply
            return upload.Answer(*reply)
        grant = {"blob_name": f"photos/{NAME}", "upload_url": f"https://x/photos/{NAME}?sig={len(self.bodies)}",
                 "content_type": "image/jpeg", "uploaded": self.uploaded, "max_bytes": 1 << 20,
                 "job_hint": ids.job_id_for(NAME), "staged_blocks": self.staged}  # fmt: skip
        return upload.Answer(200, grant)


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "p1.jpg"
    path.write_bytes(JPEG)
    return path


def uploader(api, storage, tmp_path, **kwargs) -> upload.Uploader:
    return upload.Uploader(api, site="s1", device="d1", block_size=BLOCK, blob_factory=storage.factory,
                           sleep=lambda _s: None, **kwargs)  # fmt: skip


def test_blocks_are_deterministic_equal_length_and_cover_the_file():
    blocks = plan_blocks(JPEG, BLOCK)
    assert [(b.start, b.end) for b in blocks] == [(0, 4096), (4096, 8192), (8192, len(JPEG))]
    assert len({len(b.id) for b in blocks}) == 1 and blocks[1].id.startswith("000001-")
    assert [b.size for b in blocks] == [4096, 4096, len(JPEG) - 8192]
    assert plan_blocks(JPEG, BLOCK) == blocks and plan_blocks(JPEG[:-1], BLOCK)[2].id != blocks[2].id
    assert plan_blocks(b"", BLOCK) == []  # an empty file commits an empty block list


def test_upload_stages_commits_and_prints_the_pipelines_job_id(photo, tmp_path):
    storage = ScriptedStorage()
    outcome = uploader(Api(), storage, tmp_path).upload(photo)
    assert outcome.status == "uploaded" and outcome.blocks_sent == 3
    assert storage.committed == JPEG and storage.content_type == "image/jpeg"
    assert outcome.job_id == ids.job_id_for(NAME) and outcome.etag == "0x8DE0000000000001"  # the job's photo_etag
    assert outcome.committed_at and datetime.fromisoformat(outcome.committed_at).tzinfo is not None


def test_an_empty_file_commits_an_empty_block_list(tmp_path):
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    storage = ScriptedStorage()
    outcome = uploader(Api(), storage, tmp_path).upload(empty)
    assert outcome.status == "uploaded" and storage.calls == [("commit", 0)] and storage.committed == b""


def test_default_photo_id_is_name_and_content_hash_and_ext_comes_from_the_bytes(photo, tmp_path):
    api = Api()
    renamed = photo.rename(tmp_path / "no-suffix")
    uploader(api, ScriptedStorage(), tmp_path).upload(renamed)
    assert api.bodies[0] == {"site_id": "s1", "device_id": "d1", "photo_id": upload.default_photo_id(renamed, JPEG),
                             "ext": "jpg"}  # fmt: skip
    assert upload.default_photo_id(renamed, JPEG).startswith("no-suffix-")


@pytest.mark.parametrize(
    ("name", "prefix"),
    [("IMG_0001.jpg", "IMG_0001-"), ("my photo (1).JPG", "my-photo-1-"), ("...jpg", ""), ("写真.png", ""),
     ("_x.jpg", "x-"), ("a" * 90 + ".jpg", "a" * 47 + "-")],
)  # fmt: skip
def test_default_photo_ids_follow_the_api_id_rule(name, prefix, tmp_path):
    from shared.uploads.naming import ID

    photo_id = upload.default_photo_id(tmp_path / name, JPEG)
    assert ID.fullmatch(photo_id) and photo_id.startswith(prefix) and len(photo_id) == len(prefix) + 16
    assert upload.default_photo_id(tmp_path / "copy.jpg", JPEG) != upload.default_photo_id(tmp_path / name, JPEG)
    assert upload.default_photo_id(tmp_path / name, JPEG + b"x") != photo_id


def test_transient_block_failures_are_retried(photo, tmp_path):
    storage = ScriptedStorage({2: http_error(503, "ServerBusy"), 3: ServiceRequestError("reset")})
    outcome = uploader(Api(), storage, tmp_path).upload(photo)
    assert outcome.status == "uploaded" and storage.committed == JPEG


def test_failure_reasons_never_carry_the_sas(photo, tmp_path):
    leak = ServiceRequestError(
        "HTTPSConnectionPool(host='acct.blob.core.windows.net', port=443): Max retries exceeded with url: "
        f"/photos/{NAME}?comp=block&blockid=MDA%3D&sv=2025-11-05&sp=cw&sr=b&sig=c2VjcmV0%3D (Caused by reset)"
    )
    storage = ScriptedStorage(dict.fromkeys(range(1, 10), leak))
    outcome = uploader(Api(), storage, tmp_path).upload(photo)
    reason = outcome.reason or ""
    assert outcome.status == "failed" and reason.startswith("unreachable")
    assert "sig=" not in reason and "sp=cw" not in reason and f"/photos/{NAME}?..." in reason


def test_a_refused_sas_is_renewed(photo, tmp_path):
    api = Api()
    storage = ScriptedStorage({2: http_error(403, "AuthenticationFailed")})
    outcome = uploader(api, storage, tmp_path).upload(photo)
    assert outcome.status == "uploaded" and len(api.bodies) == 2
    assert storage.urls[-1].endswith("sig=2")


def test_retries_are_bounded(photo, tmp_path):
    storage = ScriptedStorage({n: http_error(500, "InternalError") for n in range(1, 10)})
    outcome = uploader(Api(), storage, tmp_path).upload(photo)
    assert outcome.status == "failed" and outcome.reason.startswith("storage_500")
    assert len(storage.calls) == upload.ATTEMPTS


def test_permanent_storage_errors_are_not_retried(photo, tmp_path):
    storage = ScriptedStorage({1: http_error(404, "ContainerNotFound")})
    outcome = uploader(Api(), storage, tmp_path).upload(photo)
    assert outcome.status == "failed" and len(storage.calls) == 1


def test_commit_conflict_means_already_uploaded(photo, tmp_path):
    api = Api()  # the grant hands out a URL and names the job before anything is sent
    storage = ScriptedStorage()
    storage.committed = b"committed earlier, the reply lost"
    outcome = uploader(api, storage, tmp_path).upload(photo)
    assert outcome.status == "already_uploaded" and outcome.job_id == ids.job_id_for(NAME)
    assert len(api.bodies) == 1 and outcome.etag is None  # no second API call; not this client's commit


def test_a_failed_precondition_on_commit_also_means_already_uploaded(photo, tmp_path):
    api = Api((201, Api()({})[1]))
    api.uploaded = True
    storage = ScriptedStorage({4: http_error(412, "ConditionNotMet", ResourceModifiedError)})
    outcome = uploader(api, storage, tmp_path).upload(photo)
    assert outcome.status == "already_uploaded" and storage.calls[-1] == ("commit", 3)


def test_already_uploaded_photo_sends_nothing(photo, tmp_path):
    api, storage = Api(), ScriptedStorage()
    api.uploaded = True
    outcome = uploader(api, storage, tmp_path).upload(photo)
    assert outcome.status == "already_uploaded" and outcome.job_id == ids.job_id_for(NAME) and storage.calls == []


def test_resume_skips_the_blocks_the_service_lists(photo, tmp_path):
    blocks = plan_blocks(JPEG, BLOCK)
    storage = ScriptedStorage()
    storage.staged = {blocks[0].id: JPEG[:4096], blocks[1].id: JPEG[4096:8192]}
    listed = [{"id": blocks[0].id, "size": 4096}, {"id": blocks[1].id, "size": 4096}]
    outcome = uploader(Api(staged=listed), storage, tmp_path).upload(photo)
    assert (outcome.blocks_sent, outcome.blocks_skipped) == (1, 2) and storage.committed == JPEG
    assert storage.calls == [("stage", blocks[2].id), ("commit", 3)]


def test_a_listed_block_of_another_size_is_sent_again(photo, tmp_path):
    blocks = plan_blocks(JPEG, BLOCK)
    storage = ScriptedStorage()
    outcome = uploader(Api(staged=[{"id": blocks[0].id, "size": 10}]), storage, tmp_path).upload(photo)
    assert outcome.blocks_sent == 3 and storage.committed == JPEG


def test_blocks_the_service_dropped_before_the_commit_are_staged_again(photo, tmp_path):
    listed = [{"id": b.id, "size": b.size} for b in plan_blocks(JPEG, BLOCK)]  # listed, then expired
    fresh = ScriptedStorage()
    outcome = uploader(Api(staged=listed), fresh, tmp_path).upload(photo)
    assert outcome.status == "uploaded" and (outcome.blocks_sent, outcome.blocks_skipped) == (3, 0)
    assert fresh.committed == JPEG and [c[0] for c in fresh.calls] == ["commit", "stage", "stage", "stage", "commit"]


def test_staged_block_listing_is_read_defensively():
    good = {"id": "000000-ab", "size": 4}
    grant = {"staged_blocks": [good, {"id": 3, "size": 4}, {"id": "x"}, "junk", {"id": "y", "size": "4"}]}
    assert staged_blocks(grant) == {"000000-ab": 4}
    assert staged_blocks({}) == staged_blocks({"staged_blocks": "all"}) == {}


@pytest.mark.parametrize(
    ("replies", "reason"),
    [
        ([(400, {"reason": "invalid_site_id", "detail": "bad"})], "invalid_site_id"),
        ([(503, {"reason": "transient"})] * 4, "transient"),
        ([OSError("refused")] * 4, "unreachable"),
    ],
)
def test_api_failures(photo, tmp_path, replies, reason):
    api = Api(*replies)
    outcome = uploader(api, ScriptedStorage(), tmp_path).upload(photo)
    assert outcome.status == "failed" and outcome.reason.startswith(reason)
    assert len(api.bodies) == len(replies)


def test_api_outage_then_recovery(photo, tmp_path):
    assert uploader(Api((503, {}), OSError("x")), ScriptedStorage(), tmp_path).upload(photo).status == "uploaded"


def test_too_large_and_unsupported_files_fail_before_any_block(tmp_path):
    api = Api((201, {"blob_name": f"photos/{NAME}", "upload_url": "u", "max_bytes": 10, "uploaded": False}))
    big = tmp_path / "big.jpg"
    big.write_bytes(JPEG)
    storage = ScriptedStorage()
    assert uploader(api, storage, tmp_path).upload(big).reason.startswith("too_large")
    gif = tmp_path / "a.gif"
    gif.write_bytes(b"GIF89a....")
    assert uploader(Api(), storage, tmp_path).upload(gif).reason.startswith("unsupported_type")
    assert uploader(Api(), storage, tmp_path).upload(tmp_path / "missing.jpg").reason.startswith("unreadable")
    assert storage.calls == []


def args(tmp_path, *paths, **extra) -> argparse.Namespace:
    defaults = {"site": "s1", "device": "d1", "photo_id": None, "api": None, "key": None, "block_size": BLOCK,
                "json": False, "state_dir": tmp_path}  # fmt: skip
    return argparse.Namespace(paths=list(paths), **{**defaults, **extra})


def test_run_prints_job_ids_and_a_summary_and_fails_when_one_photo_fails(photo, tmp_path):
    out, err = io.StringIO(), io.StringIO()
    code = upload_command.run(
        args(tmp_path, photo, tmp_path / "missing.jpg"), Api(), ScriptedStorage().factory, out, err
    )
    assert code == 1
    assert out.getvalue() == f"{photo} -> {ids.job_id_for(NAME)}\n"
    assert "missing.jpg: FAILED unreadable" in err.getvalue()
    assert err.getvalue().endswith("2 photo(s): 1 uploaded, 0 already uploaded, 1 failed\n")


def test_run_json_and_photo_id_rules(photo, tmp_path):
    out, err = io.StringIO(), io.StringIO()
    assert (
        upload_command.run(args(tmp_path, photo, json=True, photo_id="p1"), Api(), ScriptedStorage().factory, out, err)
        == 0
    )
    [doc] = json.loads(out.getvalue())
    assert doc["status"] == "uploaded" and doc["blob_name"] == NAME and doc["job_id"].startswith("j_")
    assert (
        upload_command.run(args(tmp_path, photo, photo, photo_id="p1"), Api(), ScriptedStorage().factory, out, err) == 2
    )


def test_endpoint_flags_then_environment_then_stack_file(tmp_path):
    (tmp_path / "stack.json").write_text(json.dumps({"functions": {"api": "http://127.0.0.1:7071/api/",
                                                                   "host_key": "hk"}}))  # fmt: skip
    env = {"SITELENS_API": "https://app.example/api", "SITELENS_API_KEY": "ek"}
    assert upload_command.resolve_endpoint("https://f/api", "fk", env, tmp_path) == ("https://f/api", "fk")
    assert upload_command.resolve_endpoint(None, None, env, tmp_path) == ("https://app.example/api", "ek")
    assert upload_command.resolve_endpoint(None, None, {}, tmp_path) == ("http://127.0.0.1:7071/api", "hk")
    assert upload_command.resolve_endpoint(None, "mine", {}, tmp_path) == ("http://127.0.0.1:7071/api", "mine")
    with pytest.raises(upload.UploadFailed, match="no_endpoint"):
        upload_command.resolve_endpoint(None, None, {}, tmp_path / "nowhere")


@pytest.mark.parametrize(("text", "size"), [("4MiB", 4 << 20), ("512KiB", 512 << 10), ("1m", 1 << 20), ("2048", 2048)])
def test_block_size_parsing(text, size):
    assert upload_command.parse_size(text) == size


@pytest.mark.parametrize("text", ["lots", "1GiB", "10", "0.5KiB", "-4MiB"])
def test_block_size_refusals(text):
    with pytest.raises(argparse.ArgumentTypeError):
        upload_command.parse_size(text)


def test_progress_bar_only_on_a_terminal():
    quiet = io.StringIO()
    bar = Progress(quiet)
    bar.start("p.jpg", 100)
    bar.advance(100)
    assert quiet.getvalue() == ""
    loud = io.StringIO()
    bar = Progress(loud, enabled=True)
    bar.start("p.jpg", 2 << 20)
    bar.advance(2 << 20)
    bar.finish()
    assert "100%" in loud.getvalue() and "2.0/2.0 MiB" in loud.getvalue()


@pytest.mark.parametrize(
    "api",
    [
        "127.0.0.1:9/api",
        "app.azurewebsites.net/api",
        "ftp://host/api",
        "https:///api",
        "https://[fe80::1/api",
        "https://host:http/api",
        "https://host:99999/api",
    ],
)
def test_an_endpoint_that_is_not_an_http_url_is_refused_as_a_usage_error_not_an_outage(tmp_path, api):
    with pytest.raises(upload.UploadFailed, match="bad_endpoint") as refused:
        upload_command.resolve_endpoint(api, None, {}, tmp_path)
    assert "SITELENS_API" in str(refused.value)
    with pytest.raises(upload.UploadFailed, match="bad_endpoint"):
        upload_command.resolve_endpoint(None, None, {"SITELENS_API": api}, tmp_path)
