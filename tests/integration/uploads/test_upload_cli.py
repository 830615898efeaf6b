"""`sitelens upload` against Azurite: the service in-process, then over HTTP; resume after a crash; a device at
its hourly reservation cap told how long to wait."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from shared.http_reply import Reply
from shared.jobs import ids
from shared.uploads import api
from shared.uploads.service import UploadService, UploadSettings
from sitelens import cli, upload, upload_command
from sitelens.api_client import asked_wait
from sitelens.upload_progress import plan_blocks

pytestmark = pytest.mark.integration
BLOCK = 64 * 1024
KEY = "test-function-key"


def photo_bytes(seed: int, size: int = 5 * BLOCK + 123) -> bytes:
    body = os.urandom(size - 4) if seed < 0 else bytes((seed + i) % 251 for i in range(size - 4))
    return b"\xff\xd8\xff\xe0" + body


def in_process(uploads) -> upload.Requester:
    def post(body: dict[str, Any]) -> upload.Answer:
        reply = api.handle(uploads, json.dumps(body).encode())
        return upload.Answer(reply.status, dict(reply.body or {}), asked_wait(reply.headers))

    return post


def args(state: Path, site: str, *paths: Path, **extra: Any) -> argparse.Namespace:
    defaults = {"site": site, "device": "cam1", "photo_id": None, "api": None, "key": None, "block_size": BLOCK,
                "json": False, "state_dir": state}  # fmt: skip
    return argparse.Namespace(paths=list(paths), **{**defaults, **extra})


def grant(uploads, site: str, photo_id: str) -> dict[str, Any]:
    """What `POST /uploads` answers a (repeated) request for that photo now."""
    body = {"site_id": site, "device_id": "cam1", "photo_id": photo_id}
    doc: dict[str, Any] = api.handle(uploads, json.dumps(body).encode()).pair()[1]
    return doc


def blob_name(uploads, site: str, path: Path, photo_id: str | None = None) -> str:
    photo_id = photo_id or upload.default_photo_id(path, path.read_bytes())
    return str(grant(uploads, site, photo_id)["blob_name"]).removeprefix("photos/")


def committed(blobs, name: str) -> tuple[bytes, str]:
    client = blobs.get_blob_client("photos", name)
    return client.download_blob().readall(), client.get_blob_properties().etag


def test_upload_end_to_end_prints_the_pipelines_job_ids(uploads, blobs, site, tmp_path):
    paths = []
    for n in range(2):
        paths.append(tmp_path / f"photo{n}.jpg")
        paths[-1].write_bytes(photo_bytes(n))
    out, err = io.StringIO(), io.StringIO()
    assert upload_command.run(args(tmp_path, site, *paths, json=True), in_process(uploads), out=out, err=err) == 0
    outcomes = json.loads(out.getvalue())
    for path, outcome in zip(paths, outcomes, strict=True):
        data, etag = committed(blobs, outcome["blob_name"])
        assert data == path.read_bytes()
        assert outcome["job_id"] == ids.job_id_for(outcome["blob_name"]) and outcome["etag"] == etag.strip('"')
        assert outcome["blob_name"].endswith(f"/{upload.default_photo_id(path, data)}.jpg")
        assert (
            blobs.get_blob_client("photos", outcome["blob_name"]).get_blob_properties().content_settings.content_type
            == "image/jpeg"
        )

    out2 = io.StringIO()
    assert upload_command.run(args(tmp_path, site, *paths), in_process(uploads), out=out2, err=io.StringIO()) == 0
    assert out2.getvalue().splitlines() == [
        f"{p} -> {o['job_id']} (already uploaded)" for p, o in zip(paths, outcomes, strict=True)
    ]


class Crash(BaseException):
    """Stands for the process dying: not an Exception, so nothing in the uploader catches it."""


class CountingBlobs:
    def __init__(self, crash_after: int | None = None) -> None:
        self.staged: list[str] = []
        self.crash_after = crash_after

    def factory(self, url: str) -> Any:
        real = upload.blob_client(url)
        outer = self

        class Wrapped:
            def stage_block(self, block_id: str, data: bytes, **kwargs: Any) -> Any:
                if outer.crash_after is not None and len(outer.staged) == outer.crash_after:
                    raise Crash
                real.stage_block(block_id, data, **kwargs)
                outer.staged.append(block_id)

            def commit_block_list(self, *a: Any, **kw: Any) -> Any:
                return real.commit_block_list(*a, **kw)

        return Wrapped()


def test_an_interrupted_upload_resumes_without_resending_staged_blocks(uploads, blobs, site, tmp_path):
    path = tmp_path / "big.jpg"
    path.write_bytes(photo_bytes(-1, 8 * BLOCK))
    blocks = plan_blocks(path.read_bytes(), BLOCK)
    first = CountingBlobs(crash_after=4)
    with pytest.raises(Crash):
        upload_command.run(args(tmp_path, site, path), in_process(uploads), first.factory, io.StringIO(), io.StringIO())
    assert first.staged == [b.id for b in blocks[:4]]

    # The service reads the uncommitted block list (the device's SAS could not) and hands it back.
    listed = grant(uploads, site, upload.default_photo_id(path, path.read_bytes()))["staged_blocks"]
    assert listed == [{"id": b.id, "size": BLOCK} for b in blocks[:4]]
    name = blob_name(uploads, site, path)

    second = CountingBlobs()
    out, err = io.StringIO(), io.StringIO()
    code = upload_command.run(args(tmp_path, site, path, json=True), in_process(uploads), second.factory, out, err)
    assert code == 0, err.getvalue()
    assert second.staged == [b.id for b in blocks[4:]]  # the four staged before the crash were not sent again
    [outcome] = json.loads(out.getvalue())
    assert (outcome["blocks_sent"], outcome["blocks_skipped"]) == (4, 4)
    data, etag = committed(blobs, name)
    assert data == path.read_bytes() and outcome["job_id"] == ids.job_id_for(name)
    assert outcome["etag"] == etag.strip('"')


def test_a_changed_file_under_the_same_photo_id_resends_the_changed_blocks(uploads, blobs, site, tmp_path):
    path = tmp_path / "edited.jpg"
    original = photo_bytes(3, 4 * BLOCK)
    path.write_bytes(original)
    first = CountingBlobs(crash_after=3)
    with pytest.raises(Crash):
        upload_command.run(args(tmp_path, site, path, photo_id="EDIT1"), in_process(uploads), first.factory,
                           io.StringIO(), io.StringIO())  # fmt: skip
    edited = original[: BLOCK + 10] + b"\x00" * 5 + original[BLOCK + 15 :]  # block 1 changes, 0 and 2 do not
    path.write_bytes(edited)
    second = CountingBlobs()
    assert upload_command.run(args(tmp_path, site, path, photo_id="EDIT1"), in_process(uploads), second.factory,
                              io.StringIO(), io.StringIO()) == 0  # fmt: skip
    blocks = plan_blocks(edited, BLOCK)
    assert second.staged == [blocks[1].id, blocks[3].id]
    assert committed(blobs, blob_name(uploads, site, path, "EDIT1"))[0] == edited


@contextlib.contextmanager
def serving(service: UploadService, requests: list[str] | None = None) -> Iterator[str]:
    """`POST /api/uploads` over real HTTP with a function key, as the Functions host serves it (headers included);
    each request's path is appended to `requests`."""
    seen = requests if requests is not None else []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen.append(self.path)
            if self.path != "/api/uploads":
                reply = Reply.problem(404, "not_found", self.path)
            elif self.headers.get("x-functions-key") != KEY:
                reply = Reply.problem(401, "unauthorized", "missing or wrong function key")
            else:
                reply = api.handle(service, raw)
            body = reply.encoded() or b""
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", reply.media_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def http_api(uploads) -> Iterator[str]:
    with serving(uploads) as url:
        yield url


def test_the_command_over_http_with_flags_env_or_the_stack_file(http_api, blobs, site, tmp_path, capsys, monkeypatch):  # noqa: PLR0917 - fixtures
    monkeypatch.delenv("SITELENS_API", raising=False)
    monkeypatch.delenv("SITELENS_API_KEY", raising=False)
    path = tmp_path / "p.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 300)
    common = ["upload", str(path), "--site", site, "--device", "cam1", "--block-size", "64KiB",
              "--state-dir", str(tmp_path), "--json"]  # fmt: skip

    assert cli.main([*common, "--api", http_api, "--key", KEY, "--photo-id", "P1"]) == 0
    [outcome] = json.loads(capsys.readouterr().out)
    assert outcome["status"] == "uploaded" and outcome["blob_name"].endswith("/P1.png")
    data, etag = committed(blobs, outcome["blob_name"])
    assert data == path.read_bytes() and outcome["job_id"] == ids.job_id_for(outcome["blob_name"])
    assert outcome["etag"] == etag.strip('"')

    monkeypatch.setenv("SITELENS_API", http_api)
    monkeypatch.setenv("SITELENS_API_KEY", KEY)
    assert cli.main([*common, "--photo-id", "P1"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["status"] == "already_uploaded"

    monkeypatch.delenv("SITELENS_API")
    monkeypatch.delenv("SITELENS_API_KEY")
    (tmp_path / "stack.json").write_text(json.dumps({"functions": {"api": http_api, "host_key": "wrong"}}))
    assert cli.main([*common, "--photo-id", "P2"]) == 1  # the stack file's key is sent, and refused
    assert "unauthorized" in capsys.readouterr().err
    assert cli.main([*common, "--photo-id", "P2", "--key", KEY]) == 0


def test_a_device_at_its_hourly_cap_fails_at_once_with_the_wait_the_api_asked(reservations, signer, site, tmp_path,
                                                                              capsys):  # fmt: skip
    """Half an hour before the next window: the client does not sleep through it (nor retry), it reports the wait."""
    half_past = datetime(2026, 11, 22, 10, 30, tzinfo=UTC)
    capped = UploadService(reservations, signer, UploadSettings(new_per_device_hour=1), clock=lambda: half_past)
    paths = [tmp_path / "first.jpg", tmp_path / "second.jpg"]
    for n, path in enumerate(paths):
        path.write_bytes(photo_bytes(n, 2 * BLOCK))
    requests: list[str] = []
    with serving(capped, requests) as url:
        code = cli.main(["upload", *map(str, paths), "--site", site, "--device", "cam1", "--block-size", "64KiB",
                         "--api", url, "--key", KEY, "--state-dir", str(tmp_path), "--json"])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 3  # the one failure passes with the hour: run it again later
    first, second = json.loads(captured.out)
    assert first["status"] == "uploaded" and first["retry_after"] is None
    assert second["status"] == "failed" and second["reason"].startswith("too_many_reservations")
    assert second["retry_after"] == 1800.0 and "(retry after 1800 s)" in second["reason"]
    assert f"{paths[1]}: FAILED too_many_reservations" in captured.err and "retry after 1800 s" in captured.err
    assert requests == ["/api/uploads"] * 2  # the refusal was asked once: no retry slept through the half hour
