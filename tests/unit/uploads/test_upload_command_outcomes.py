"""`sitelens upload` as scripts use it: a key read with its line break, each job id printed as its photo finishes
(a Ctrl-C keeps those already known), and an exit status that tells "run it again later" (3) from "refused for
good" (1)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from sitelens import jobs_command, upload, upload_command
from sitelens.cli import build_parser
from sitelens.upload import Outcome, UploadFailed
from tests.support.scripted_http import ScriptedServer
from tests.unit.uploads.fakes import ScriptedStorage
from tests.unit.uploads.test_client import JPEG, Api, args

CAPPED = upload.Answer(429, {"reason": "too_many_reservations", "detail": "the hour's cap"}, 1800.0)
BUSY_WAIT = upload.Answer(503, {"reason": "transient", "detail": "storage is unavailable"}, 120.0)  # over a minute
REFUSED = (400, {"reason": "invalid_site_id", "detail": "bad"})
SECRET = "s3cret-KEY"
JOB = "j_" + "a" * 26


def photos(folder: Path, count: int) -> list[Path]:
    made = []
    for n in range(count):
        made.append(folder / f"p{n}.jpg")
        made[-1].write_bytes(JPEG + bytes([n]))
    return made


def upload_run(tmp_path: Path, paths: list[Path], api: Any, **extra: Any) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        code = upload_command.run(args(tmp_path, *paths, **extra), api, ScriptedStorage().factory, out, err)
    except KeyboardInterrupt:  # not left to end the test session
        pytest.fail(f"Ctrl-C escaped the command; it had printed {out.getvalue()!r}")
    return code, out.getvalue(), err.getvalue()


# --- the function key ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("ending", ["\n", "\r\n", " \t", "\r"])
def test_a_key_read_with_its_line_break_is_sent_without_it_from_flags_environment_or_stack_file(
    tmp_path: Path, ending: str
) -> None:
    (tmp_path / "stack.json").write_text(json.dumps({"functions": {"api": "http://127.0.0.1:7071/api",
                                                                   "host_key": SECRET + ending}}))  # fmt: skip
    api = "https://app.example/api"
    assert upload_command.resolve_endpoint(api, SECRET + ending, {}, tmp_path) == (api, SECRET)
    assert upload_command.resolve_endpoint(None, None, {"SITELENS_API": api, "SITELENS_API_KEY": SECRET + ending},
                                           tmp_path) == (api, SECRET)  # fmt: skip
    assert upload_command.resolve_endpoint(None, None, {}, tmp_path) == ("http://127.0.0.1:7071/api", SECRET)


def test_a_blank_key_flag_falls_back_to_the_environment_as_an_empty_one_does(tmp_path: Path) -> None:
    env = {"SITELENS_API": "https://app.example/api", "SITELENS_API_KEY": SECRET}
    assert upload_command.resolve_endpoint(None, "\r\n", env, tmp_path)[1] == SECRET


@pytest.mark.parametrize("key", [f"{SECRET[:3]}\n{SECRET[3:]}", f"{SECRET}\x00", f"{SECRET}\x1b[0m", f"{SECRET}é"])
def test_a_key_no_header_can_carry_is_refused_without_showing_it(tmp_path: Path, key: str) -> None:
    for flag, env in ((key, {}), (None, {"SITELENS_API_KEY": key})):
        with pytest.raises(UploadFailed, match="bad_key") as refused:
            upload_command.resolve_endpoint("https://app.example/api", flag, env, tmp_path)
        assert SECRET[:3] not in str(refused.value) and SECRET[3:] not in str(refused.value)


def test_upload_with_a_key_no_header_can_carry_is_a_usage_error_before_any_request(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = upload_command.run(args(tmp_path, *photos(tmp_path, 1), api="http://127.0.0.1:9/api", key=f"a\nb{SECRET}"),
                              out=out, err=err)  # fmt: skip
    assert (code, out.getvalue()) == (2, "") and "bad_key" in err.getvalue() and SECRET not in err.getvalue()


# --- each photo's line as it finishes; Ctrl-C ---------------------------------------------------------------------


class InterruptedApi(Api):
    """Ctrl-C while the photo after the first `finished` is being asked for."""

    def __init__(self, finished: int) -> None:
        super().__init__()
        self.finished = finished

    def __call__(self, body: dict[str, Any]) -> upload.Answer:
        if len(self.bodies) == self.finished:
            raise KeyboardInterrupt
        return super().__call__(body)


def test_each_job_id_is_printed_as_its_photo_finishes_and_ctrl_c_keeps_those_known(tmp_path: Path) -> None:
    paths = photos(tmp_path, 3)
    code, out, err = upload_run(tmp_path, paths, InterruptedApi(finished=2))
    assert code == 130
    assert [line.split(" -> ")[0] for line in out.splitlines()] == [str(paths[0]), str(paths[1])]
    assert "2 photo(s): " in err and err.endswith(" 0 failed; interrupted: 1 not finished\n")
    assert "Traceback" not in err


def test_json_stays_one_document_and_after_a_ctrl_c_holds_the_photos_finished(tmp_path: Path) -> None:
    paths = photos(tmp_path, 3)
    code, out, _ = upload_run(tmp_path, paths, InterruptedApi(finished=1), json=True)
    [finished] = json.loads(out)
    assert code == 130 and finished["path"] == str(paths[0]) and finished["job_id"].startswith("j_")


class ReaderLeaves(io.StringIO):
    """stdout whose reader goes away after the first line (`| head -n1`): each write after it is a broken pipe."""

    def write(self, text: str) -> int:
        if self.getvalue():
            raise BrokenPipeError(32, "Broken pipe")
        return super().write(text)


class RefusesThird(Api):
    """Grants every photo but the third, which it refuses for good."""

    def __call__(self, body: dict[str, Any]) -> upload.Answer:
        if len(self.bodies) == 2:
            self.bodies.append(body)
            return upload.Answer(*REFUSED)
        return super().__call__(body)


def test_a_reader_leaving_stdout_stops_the_lines_but_not_the_uploads(tmp_path: Path) -> None:
    """Every photo is still uploaded, and a failure after the reader left is still on stderr, with the summary; then
    a broken pipe for cli.main, which ends the process with 141."""
    paths, out, err, api = photos(tmp_path, 4), ReaderLeaves(), io.StringIO(), RefusesThird()
    with pytest.raises(BrokenPipeError):
        upload_command.run(args(tmp_path, *paths), api, ScriptedStorage().factory, out, err)
    assert len(api.bodies) == 4 and out.getvalue().startswith(f"{paths[0]} -> j_") and out.getvalue().count("\n") == 1
    *_, failure, summary, closed = err.getvalue().splitlines()
    assert failure == f"{paths[2]}: FAILED invalid_site_id: bad"
    assert summary.startswith("4 photo(s): ") and summary.endswith(" already uploaded, 1 failed")  # none left out
    assert closed == "stdout was closed early: every photo was still attempted, as counted above"


@pytest.mark.parametrize("merged", [True, False], ids=["with stdout (2>&1 | head -n1)", "alone (2>(head -n1))"])
def test_a_reader_leaving_stderr_stops_its_lines_but_not_the_uploads(tmp_path: Path, merged: bool) -> None:
    """A FAILED line after stderr's reader left is a broken pipe too: the photos after it are still uploaded, and
    the same broken pipe for cli.main (141) comes at the end."""
    paths, api = photos(tmp_path, 4), RefusesThird()
    err = ReaderLeaves()
    out = err if merged else io.StringIO()
    if not merged:
        err.write("a line the reader took before it left\n")
    with pytest.raises(BrokenPipeError):
        upload_command.run(args(tmp_path, *paths), api, ScriptedStorage().factory, out, err)
    assert len(api.bodies) == 4 and err.getvalue().count("\n") == 1
    if not merged:  # stdout's reader is still there: every job id but the refused photo's
        printed = [line.split(" -> ")[0] for line in out.getvalue().splitlines()]
        assert printed == [str(p) for p in paths if p != paths[2]]


# --- exit status: later (3) or for good (1) -----------------------------------------------------------------------


def test_photos_that_failed_only_for_a_while_exit_3_a_run_for_later(tmp_path: Path) -> None:
    paths = photos(tmp_path, 3)
    code, out, err = upload_run(tmp_path, paths, Api(CAPPED, BUSY_WAIT))  # the third is uploaded
    assert code == 3 and out.count(" -> ") == 1 and err.count(": FAILED ") == 2


def test_one_photo_refused_for_good_among_passing_failures_exits_1(tmp_path: Path) -> None:
    paths = photos(tmp_path, 3)
    assert upload_run(tmp_path, paths, Api(CAPPED, REFUSED))[0] == 1


@pytest.mark.parametrize(
    ("reason", "retry_after", "passing"),
    [
        ("unreachable: [Errno 111] Connection refused", None, True),
        ("transient: storage is unavailable", None, True),
        ("http_502: <html>Bad Gateway</html>", None, True),
        ("storage_503: Server Busy", None, True),
        ("throttled: slow down", 30.0, True),  # any answer that asked for a wait
        ("invalid_site_id: bad", None, False),
        ("storage_403: AuthorizationFailure", None, False),
        ("internal_error: a bug", None, False),
        ("unauthorized: missing or wrong function key", None, False),
        ("unsupported_type: not a JPEG or PNG file", None, False),
    ],
)
def test_which_failures_pass_with_time(reason: str, retry_after: float | None, passing: bool) -> None:
    assert upload_command.passing(Outcome("p.jpg", "failed", reason=reason, retry_after=retry_after)) is passing


def test_jobs_sends_the_key_without_its_line_break(tmp_path: Path) -> None:
    api = ScriptedServer((200, {}, json.dumps({"id": JOB, "state": "RUNNING"}).encode(), None))
    try:
        argv = ["jobs", "--api", f"{api.origin}/api", "--key", f"{SECRET}\r\n", "get", JOB, "--json"]
        assert jobs_command.run(build_parser(argv).parse_args(argv), io.StringIO(), io.StringIO()) == 0
    finally:
        api.close()
    assert api.seen == [("GET", f"/api/jobs/{JOB}", SECRET)]
