"""`sitelens` as scripts run it, as a real process against a loopback stand-in for the API: a reader that closes
stdout early (`| head`), a file name that is not UTF-8, Ctrl-C in the middle of an upload, and debug logging
that must not show an upload link's SAS."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from tests.support.scripted_http import Answer, ScriptedServer
from tests.support.stack import REPO
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration
JOB = "j_" + "a" * 26
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8
SIGPIPE_EXIT = 128 + signal.SIGPIPE  # the status a shell reports for a process that SIGPIPE ended
# The child takes SIGINT as Python does by default (KeyboardInterrupt), even where the test runner was started with
# SIGINT ignored (a background job of a shell), which a child would inherit.
ENTRY = "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); from sitelens.cli import main; "
ENTRY += "sys.exit(main())"


def answer(status: int, doc: dict[str, Any], **headers: str) -> Answer:
    return status, headers, json.dumps(doc).encode(), None


def grant(uploaded: bool, upload_url: str = "unused") -> Answer:
    """`POST /api/uploads`' answer: a photo already uploaded (nothing goes to storage), or a link to upload it."""
    doc = {"blob_name": "photos/s1/d1/2026/11/22/p.jpg", "upload_url": upload_url, "content_type": "image/jpeg",
           "uploaded": uploaded, "max_bytes": 1 << 20, "job_hint": JOB}  # fmt: skip
    return answer(201, doc)


@pytest.fixture
def api() -> Iterator[ScriptedServer]:
    server = ScriptedServer(answer(404, {"reason": "route_not_found"}), route=lambda path: path.split("?")[0])
    yield server
    server.close()


def environment(**extra: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("SITELENS_")}, **extra}


def sitelens(
    *argv: str, stdout: int | IO[Any] = subprocess.PIPE, stderr: int | IO[Any] = subprocess.PIPE, **env: str
) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", ENTRY, *argv], cwd=REPO, env=environment(**env), stdout=stdout,
                            stderr=stderr)  # fmt: skip


def photo(folder: Path, name: str | bytes = "p.jpg") -> str:
    path = folder / os.fsdecode(name)  # bytes that are not UTF-8 become surrogates, and back on the way to the disk
    path.write_bytes(JPEG)
    return str(path)


@pytest.mark.parametrize("command", ["autoscale", "cost", "upload", "jobs"])
def test_a_stdout_closed_by_its_reader_ends_quietly_with_the_sigpipe_status(
    api: ScriptedServer, tmp_path: Path, command: str
) -> None:
    """Not a traceback, and not `jobs`' 3 ("the API did not answer: try again"), which a script would retry."""
    api.script["/api/uploads"] = [grant(uploaded=True)]
    api.script["/api/jobs"] = [answer(200, {"jobs": [{"id": JOB, "state": "RUNNING"}], "continuation": None})]
    endpoint = ("--api", f"{api.origin}/api", "--key", "k")
    argv = {"autoscale": ["autoscale", "check", str(REPO / "infra" / "autoscale.formula")], "cost": ["cost"],
            "upload": ["upload", photo(tmp_path), "--site", "s1", "--device", "d1", *endpoint],
            "jobs": ["jobs", *endpoint, "list", "--site", "s1"]}[command]  # fmt: skip
    reader, writer = os.pipe()
    os.close(reader)  # the reader has gone before the first write: `| head -0`, or a reader that died
    try:
        child = sitelens(*argv, stdout=writer)
    finally:
        os.close(writer)
    _, err = child.communicate(timeout=60)
    assert child.returncode == SIGPIPE_EXIT, err.decode(errors="replace")
    assert b"Traceback" not in err and b"unreachable" not in err


def test_stderr_into_a_closed_pipe_leaves_every_photo_attempted(api: ScriptedServer, tmp_path: Path) -> None:
    """`sitelens upload a b c d 2>&1 | head -0`: the second photo's FAILED line goes to the pipe whose reader has
    gone, and the two after it are asked for all the same; then SIGPIPE's status, as when only stdout was closed."""
    refused = answer(400, {"reason": "invalid_site_id", "detail": "bad"})
    api.script["/api/uploads"] = [grant(uploaded=True), refused, grant(uploaded=True), grant(uploaded=True)]
    paths = [photo(tmp_path, f"p{n}.jpg") for n in range(4)]
    reader, writer = os.pipe()
    os.close(reader)
    try:
        child = sitelens("upload", *paths, "--site", "s1", "--device", "d1", "--api", f"{api.origin}/api",
                         "--key", "k", stdout=writer, stderr=writer)  # fmt: skip
    finally:
        os.close(writer)
    child.communicate(timeout=60)
    assert child.returncode == SIGPIPE_EXIT
    assert len([seen for seen in api.seen if seen[0] == "POST"]) == 4


class HeldSecondUpload:
    """The API's routes, with its answer to the second `POST /api/uploads` held until `release`: what the
    child does after its first line is then certain to happen after the test has closed stdout."""

    def __init__(self) -> None:
        self.uploads, self.released = 0, threading.Event()

    def __call__(self, path: str) -> str:
        route = path.split("?", maxsplit=1)[0]
        if route == "/api/uploads":
            self.uploads += 1
            if self.uploads == 2 and not self.released.wait(60):  # a test that never released it fails, not hangs
                return "/held-too-long"
        return route


def test_a_reader_that_leaves_after_the_first_line_leaves_every_photo_uploaded(tmp_path: Path) -> None:
    """`sitelens upload a b c d | head -n1`: the photos are what the command is for. Every one is still asked for,
    the summary still goes to stderr, and the exit status is SIGPIPE's, as when the reader left before any line."""
    held = HeldSecondUpload()
    api = ScriptedServer(answer(404, {"reason": "route_not_found"}), route=held)
    try:
        api.script["/api/uploads"] = [grant(uploaded=True)]
        paths = [photo(tmp_path, f"p{n}.jpg") for n in range(4)]
        with sitelens("upload", *paths, "--site", "s1", "--device", "d1", "--api", f"{api.origin}/api",
                      "--key", "k") as child:  # fmt: skip
            try:
                assert child.stdout is not None
                stdout = child.stdout
                wait_for(lambda: select.select([stdout], [], [], 0)[0], 60, "the first job id")
                first = stdout.readline().decode()
                stdout.close()  # `head -n1` has its line, and goes
                held.released.set()
                _, err = child.communicate(timeout=60)
            finally:
                child.kill()  # a child that hung: the test fails, and leaves nothing behind
        posts = [seen for seen in api.seen if seen[0] == "POST"]
    finally:
        held.released.set()
        api.close()
    logged = err.decode(errors="replace")
    assert first == f"{paths[0]} -> {JOB} (already uploaded)\n"
    assert child.returncode == SIGPIPE_EXIT, logged
    assert len(posts) == 4 and "4 photo(s): 0 uploaded, 4 already uploaded, 0 failed\n" in logged
    assert "Traceback" not in logged


def test_a_file_name_that_is_not_utf8_is_printed_escaped_after_its_upload(api: ScriptedServer, tmp_path: Path) -> None:
    api.script["/api/uploads"] = [grant(uploaded=True)]
    path = photo(tmp_path, b"Baustelle-\xff.jpg")  # Latin-1 bytes from a camera card, under a UTF-8 locale
    child = sitelens("upload", path, "--site", "s1", "--device", "d1", "--api", f"{api.origin}/api", "--key", "k",
                     PYTHONIOENCODING="utf-8")  # fmt: skip
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err.decode(errors="replace")
    assert out.decode() == f"{os.fsencode(tmp_path).decode()}/Baustelle-\\udcff.jpg -> {JOB} (already uploaded)\n"


class Lines:
    """A child's stdout, read line by line as it comes, on a thread: what a pipe reader such as `tee` sees."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.lines: list[str] = []
        self.thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self.thread.start()

    def _read(self, stream: IO[bytes]) -> None:
        for line in stream:
            self.lines.append(line.decode())


def test_ctrl_c_mid_upload_ends_with_130_after_printing_each_finished_photos_job_id(
    api: ScriptedServer, tmp_path: Path
) -> None:
    """The first photo is done; the second waits out the API's Retry-After when Ctrl-C comes."""
    busy = answer(503, {"reason": "transient", "detail": "storage is unavailable"}, **{"Retry-After": "50"})
    api.script["/api/uploads"] = [grant(uploaded=True), busy]
    first, second = photo(tmp_path, "first.jpg"), photo(tmp_path, "second.jpg")
    with sitelens("upload", first, second, "--site", "s1", "--device", "d1", "--api", f"{api.origin}/api",
                  "--key", "k") as child:  # fmt: skip
        try:
            assert child.stdout is not None and child.stderr is not None
            out = Lines(child.stdout)
            wait_for(lambda: out.lines and len(api.seen) == 2, 20, "the first job id, and the second photo's request")
            child.send_signal(signal.SIGINT)
            code = child.wait(20)
            out.thread.join(20)
            err = child.stderr.read().decode()
        finally:
            child.kill()  # a child that did not take the signal: the test fails, and leaves nothing behind
    assert code == 130, err
    assert out.lines == [f"{first} -> {JOB} (already uploaded)\n"]
    assert "Traceback" not in err and err.endswith("1 photo(s): 0 uploaded, 1 already uploaded, 0 failed; "
                                                   "interrupted: 1 not finished\n")  # fmt: skip


def test_debug_logging_never_shows_the_upload_links_sas(api: ScriptedServer, tmp_path: Path) -> None:
    """`sitelens -v upload`: the Azure SDK's request lines redact the query; the HTTP library's show it whole."""
    api.script["/api/uploads"] = [grant(uploaded=False, upload_url=f"{api.origin}/blob/p.jpg?sv=2024&sp=cw&sig=SASSIG")]
    child = sitelens("-v", "upload", photo(tmp_path), "--site", "s1", "--device", "d1", "--api", f"{api.origin}/api",
                     "--key", "k")  # fmt: skip
    _, err = child.communicate(timeout=120)
    logged = err.decode(errors="replace")
    assert "sig=REDACTED" in logged and "DEBUG" in logged  # the request was made, and logged at debug level
    assert "SASSIG" not in logged
