"""`sitelens jobs` against a loopback server standing in for the API and Storage: a busy API is waited out
at its pace, `watch --site` watches only the jobs in flight or arriving and asks only for what can have
changed, a job id is checked before it goes into a URL, and `open`'s failures get their exit codes."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sitelens import jobs_command
from sitelens.api_client import ApiClient
from sitelens.cli import build_parser
from tests.support.scripted_http import Answer, ScriptedServer

JOB = "j_" + "a" * 26


def doc(status: int, body: dict[str, Any], **headers: str) -> Answer:
    return status, headers, json.dumps(body).encode(), None


def job(state: str, **extra: Any) -> dict[str, Any]:
    return {"id": JOB, "state": state, "site": "yard", "reason": None, "cached": False, **extra}


def received(job_id: str, state: str, at: str, **extra: Any) -> dict[str, Any]:
    """A job as the site's listing shows it: received at `at` (HH:MM:SS on one day)."""
    return job(state, id=job_id, timings={"received_at": f"2026-11-22T{at}Z"}, **extra)


def page(*jobs: dict[str, Any], continuation: str | None = None) -> Answer:
    return doc(200, {"jobs": list(jobs), "continuation": continuation})


BUSY = doc(503, {"status": 503, "reason": "transient", "detail": "jobs table throttled"}, **{"Retry-After": "7"})


class Api(ScriptedServer):
    """Scripted answers by path (its query aside), one per request, the last one kept; unknown paths are 404."""

    def __init__(self) -> None:
        super().__init__(doc(404, {"reason": "route_not_found"}), route=lambda path: path.split("?")[0])
        self.host = self.origin


class Pauses(threading.Event):
    """A stop event that records each pause `watch` takes between polls instead of taking it. A watch that
    would never end is stopped after `most` pauses, so its test fails on what it printed instead of hanging."""

    def __init__(self, most: int = 20) -> None:
        super().__init__()
        self.taken: list[float] = []
        self.most = most

    def wait(self, timeout: float | None = None) -> bool:
        self.taken.append(float(timeout or 0))
        return len(self.taken) >= self.most


@pytest.fixture
def api() -> Iterator[Api]:
    fake = Api()
    yield fake
    fake.close()


def sitelens_jobs(api: Api, *argv: str, stop: threading.Event | None = None) -> tuple[int, str, str]:
    argv = ("jobs", "--api", f"{api.host}/api", "--key", "k", *argv)
    out, err = io.StringIO(), io.StringIO()
    code = jobs_command.run(build_parser(argv).parse_args(argv), out, err, stop)
    return code, out.getvalue(), err.getvalue()


def test_watch_waits_out_a_busy_api_as_long_as_it_asks_and_never_polls_faster(api: Api) -> None:
    api.script[f"/api/jobs/{JOB}"] = [
        doc(200, job("RUNNING"), **{"Retry-After": "5"}),
        BUSY,
        doc(429, {"status": 429, "reason": "throttled"}, **{"Retry-After": "2"}),
        doc(200, job("SUCCEEDED")),
    ]
    pauses = Pauses()
    code, out, err = sitelens_jobs(api, "watch", JOB, "--interval", "0.5", stop=pauses)
    assert (code, out) == (0, f"{JOB} RUNNING\n{JOB} SUCCEEDED\n")
    assert pauses.taken == [5.0, 7.0, 2.0]  # the API's Retry-After each time, not the 0.5 s asked for
    assert "503" in err and "429" in err


def test_watch_keeps_a_longer_interval_than_the_api_asks(api: Api) -> None:
    api.script[f"/api/jobs/{JOB}"] = [doc(200, job("RUNNING"), **{"Retry-After": "5"}), BUSY, doc(200, job("FAILED"))]
    pauses = Pauses()
    assert sitelens_jobs(api, "watch", JOB, "--interval", "10", stop=pauses)[0] == 1  # FAILED: exit 1
    assert pauses.taken == [10.0, 10.0]


def test_watch_gives_up_on_an_api_that_stays_busy_with_the_did_not_answer_code(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jobs_command, "GIVE_UP_S", 0.0)
    api.script[f"/api/jobs/{JOB}"] = [BUSY]
    code, _, err = sitelens_jobs(api, "watch", JOB, stop=Pauses())
    assert code == 3 and "503" in err


def test_watch_of_a_site_waits_out_a_busy_listing(api: Api) -> None:
    throttled = doc(429, {"status": 429, "reason": "throttled"}, **{"Retry-After": "3"})
    running, done = received(JOB, "RUNNING", "10:00:00"), received(JOB, "SUCCEEDED", "10:00:00")
    api.script["/api/jobs"] = [throttled, page(running), page(done)]
    pauses = Pauses()
    assert sitelens_jobs(api, "watch", "--site", "yard", stop=pauses)[:2] == (0, f"{JOB} RUNNING\n{JOB} SUCCEEDED\n")
    assert pauses.taken == [5.0, 5.0]  # the default interval: longer than the 3 s asked


OLD, NEW, LATER = ("j_" + letter * 26 for letter in "opq")


def test_watch_of_a_site_leaves_out_jobs_that_ended_before_it_and_waits_for_the_next(api: Api) -> None:
    old_failure = received(OLD, "FAILED", "09:00:00", reason="task_failed")
    api.script["/api/jobs"] = [
        page(old_failure),  # last week's failure: history, not watched
        page(old_failure, received(NEW, "RECEIVED", "12:00:00")),  # arrives while watching
        page(old_failure, received(NEW, "SUCCEEDED", "12:00:00")),
    ]
    code, out, err = sitelens_jobs(api, "watch", "--site", "yard", stop=Pauses())
    assert (code, out) == (0, f"{NEW} RECEIVED\n{NEW} SUCCEEDED\n")
    assert "no job of yard is in flight" in err and OLD not in out + err


def test_watch_of_a_site_exits_by_the_jobs_it_watched_arrivals_included(api: Api) -> None:
    history = received(OLD, "SUCCEEDED", "09:00:00")
    api.script["/api/jobs"] = [
        page(history, received(NEW, "RUNNING", "11:00:00")),
        page(received(NEW, "SUCCEEDED", "11:00:00"), received(LATER, "FAILED", "11:00:30", reason="task_failed")),
    ]
    code, out, _ = sitelens_jobs(api, "watch", "--site", "yard", stop=Pauses())
    assert (code, out) == (1, f"{NEW} RUNNING\n{NEW} SUCCEEDED\n{LATER} FAILED task_failed\n")


def test_later_polls_of_a_site_ask_for_recent_arrivals_and_in_flight_jobs_never_the_history(api: Api) -> None:
    history = [received(f"j_{n:026d}", "SUCCEEDED", f"08:{n // 60:02d}:{n % 60:02d}") for n in range(250)]
    stuck = received(NEW, "RUNNING", "09:00:00")  # in flight since long before the newest job
    newest = received(LATER, "SUCCEEDED", "12:00:00")
    api.script["/api/jobs"] = [
        page(*history[:100], continuation="p2"),
        page(*history[100:200], continuation="p3"),
        page(*history[200:], stuck, newest),
        page(newest),  # what `since` lists: a minute before the newest job on
    ]
    api.script[f"/api/jobs/{NEW}"] = [doc(200, {**stuck, "state": "SUCCEEDED"})]
    code, out, _ = sitelens_jobs(api, "watch", "--site", "yard", stop=Pauses())
    assert (code, out) == (0, f"{NEW} RUNNING\n{NEW} SUCCEEDED\n")
    first, later = api.seen[:3], [path for _, path, _ in api.seen[3:]]
    assert [path.split("continuation=")[-1] for _, path, _ in first[1:]] == ["p2", "p3"]
    assert later == ["/api/jobs?site=yard&limit=100&since=2026-11-22T11%3A59%3A00.000000Z", f"/api/jobs/{NEW}"]


@pytest.mark.parametrize(("answer", "code"), [(BUSY, 3), (doc(401, {"status": 401, "reason": "unauthorized"}), 1)])
def test_list_on_a_busy_api_says_it_did_not_answer_and_a_refusal_stays_a_refusal(
    api: Api, answer: Answer, code: int
) -> None:
    api.script["/api/jobs"] = [answer]
    result, _, err = sitelens_jobs(api, "list", "--site", "yard")
    assert result == code and str(answer[0]) in err


@pytest.mark.parametrize("action", ["get", "open", "watch"])
@pytest.mark.parametrize("argument", ["j_x?site=yard", "../subscriptions", JOB + "/retry", JOB.upper()])
def test_a_job_argument_that_is_not_a_job_id_is_a_usage_error_before_any_call(
    api: Api, action: str, argument: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        sitelens_jobs(api, action, argument)
    assert exit_.value.code == 2 and "not a job id" in capsys.readouterr().err
    assert api.seen == []


def succeeded_with_overlay(api: Api, path: str) -> None:
    links = {"overlay": f"{api.host}{path}?sig=SECRET"}
    api.script[f"/api/jobs/{JOB}"] = [
        doc(200, job("SUCCEEDED", result={"summary": {"text": ["EXIT"]}, "links": links}))
    ]


def test_open_with_a_download_cut_short_says_so_and_writes_nothing(api: Api, tmp_path: Path) -> None:
    succeeded_with_overlay(api, "/blob/cut.jpg")
    api.script["/blob/cut.jpg"] = [(200, {"Content-Type": "image/jpeg"}, b"\xff\xd8" * 100, 100_000)]
    code, _, err = sitelens_jobs(api, "open", JOB, "--out", str(tmp_path / "o.jpg"))
    assert code == 3 and "cut short" in err and "Traceback" not in err and "SECRET" not in err
    assert not (tmp_path / "o.jpg").exists()


def test_open_with_an_expired_link_says_storage_refused_it(api: Api, tmp_path: Path) -> None:
    succeeded_with_overlay(api, "/blob/expired.jpg")
    api.script["/blob/expired.jpg"] = [doc(403, {"error": "AuthenticationFailed"})]
    code, _, err = sitelens_jobs(api, "open", JOB, "--out", str(tmp_path / "o.jpg"))
    assert code == 1 and "HTTP 403" in err and "expired" in err and "unreachable" not in err


def test_open_of_a_job_whose_result_expired_says_so(api: Api, tmp_path: Path) -> None:
    gone = {"status": 410, "reason": "result_expired", "detail": "the result document and overlay are no longer stored"}
    result = {"summary": {"text": ["EXIT"]}, "links": {}, "expired": gone}
    api.script[f"/api/jobs/{JOB}"] = [doc(200, job("SUCCEEDED", result=result))]
    code, _, err = sitelens_jobs(api, "open", JOB, "--out", str(tmp_path / "o.jpg"))
    assert code == 1 and "no longer stored" in err and "only SUCCEEDED" not in err


def test_open_into_a_missing_folder_is_a_usage_error_before_any_download(api: Api, tmp_path: Path) -> None:
    succeeded_with_overlay(api, "/blob/o.jpg")
    code, _, err = sitelens_jobs(api, "open", JOB, "--out", str(tmp_path / "nowhere" / "o.jpg"))
    assert code == 2 and "no folder" in err and api.seen == []


def test_list_with_a_state_asks_the_api_to_filter_rather_than_reading_every_job(api: Api) -> None:
    failed = received(NEW, "FAILED", "09:00:00", reason="bad_input")
    api.script["/api/jobs"] = [page(failed)]
    code, out, _ = sitelens_jobs(api, "list", "--site", "yard", "--all", "--state", "FAILED", "--json")
    assert code == 0 and [j["id"] for j in json.loads(out)] == [NEW]
    assert [path for _, path, _ in api.seen] == ["/api/jobs?site=yard&limit=100&state=FAILED"]


class Interrupted(threading.Event):
    """Ctrl-C during `watch`'s pause between polls."""

    def wait(self, timeout: float | None = None) -> bool:
        raise KeyboardInterrupt


def test_ctrl_c_during_a_watch_ends_it_with_130_and_a_line_not_a_traceback(api: Api) -> None:
    api.script["/api/jobs"] = [page(received(NEW, "RUNNING", "09:00:00"))]
    code, out, err = sitelens_jobs(api, "watch", "--site", "yard", stop=Interrupted())
    assert (code, out, err) == (130, f"{NEW} RUNNING\n", "interrupted\n")


NOT_FOUND = doc(404, {"status": 404, "reason": "not_found", "detail": f"no job {JOB}"})


def test_watch_of_a_job_not_recorded_yet_says_so_once_and_follows_it_once_it_is(api: Api) -> None:
    api.script[f"/api/jobs/{JOB}"] = [NOT_FOUND, NOT_FOUND, NOT_FOUND, doc(200, job("SUCCEEDED"))]
    code, out, err = sitelens_jobs(api, "watch", JOB, stop=Pauses())
    assert (code, out) == (0, f"{JOB} SUCCEEDED\n")
    assert err == f"{JOB}: not known to the API yet; waiting for up to 300 s\n"  # one line, not one per poll


@pytest.mark.parametrize("body", [b"", b"<html>Not Found</html>"])
def test_watch_answered_404_without_the_apis_problem_document_exits_1_at_once_saying_why(api: Api, body: bytes) -> None:
    """The Functions host's own 404 (a URL without /api, functions that did not load) says nothing of the job."""
    api.script[f"/api/jobs/{JOB}"] = [(404, {"Content-Type": "text/html"}, body, None)]
    pauses = Pauses()
    code, out, err = sitelens_jobs(api, "watch", JOB, stop=pauses)
    assert (code, out, pauses.taken, len(api.seen)) == (1, "", [], 1)
    assert "ending in /api" in err and "not known to the API yet" not in err


def test_watch_gives_up_on_a_job_the_api_never_knows_after_the_give_up_time_with_3_try_again_later(api: Api) -> None:
    """Ingestion can be behind for longer than `watch` waits (some 40 minutes via its poison queue): a job not
    found yet is not lost, so `upload && jobs watch` in a script gets "try again later", not "failed for good"."""
    api.script[f"/api/jobs/{JOB}"] = [NOT_FOUND]
    argv = ("jobs", "--api", f"{api.host}/api", "watch", JOB)
    with pytest.raises(jobs_command.CommandFailed) as gave_up:  # what `run` reports with its code
        jobs_command.watch(ApiClient(f"{api.host}/api", "k"), build_parser(argv).parse_args(argv),
                           io.StringIO(), Pauses(), err=io.StringIO(), clock=lambda: 100.0 * len(api.seen))  # fmt: skip
    assert gave_up.value.code == 3 and f"{JOB}: not found yet after 300 s: try again later" in str(gave_up.value)
    assert len(api.seen) == 1 + int(jobs_command.GIVE_UP_S / 100)  # asked every poll until 300 s had gone by


def test_watch_gives_up_on_an_unknown_job_with_exit_3_saying_it_was_not_found_yet(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jobs_command, "GIVE_UP_S", 0.0)
    api.script[f"/api/jobs/{JOB}"] = [NOT_FOUND]
    code, out, err = sitelens_jobs(api, "watch", JOB, stop=Pauses())
    assert (code, out) == (3, "")
    assert err.endswith(f"{JOB}: not found yet after 0 s: try again later (a job erased, or another deployment's, "
                        "is never found)\n")  # fmt: skip


def test_watch_of_a_job_the_api_showed_and_then_does_not_know_exits_1_at_once_erased(api: Api) -> None:
    """Once recorded, a job is found until it is erased or its records expire: its not_found then is final."""
    api.script[f"/api/jobs/{JOB}"] = [doc(200, job("RUNNING")), NOT_FOUND, doc(200, job("SUCCEEDED"))]
    pauses = Pauses()
    code, out, err = sitelens_jobs(api, "watch", JOB, stop=pauses)
    assert (code, out, len(api.seen), len(pauses.taken)) == (1, f"{JOB} RUNNING\n", 2, 1)
    assert err == f"HTTP 404 not_found: no job {JOB} (it was there before: erased since)\n"


class ClosedPipe(io.StringIO):
    """stdout whose reader has gone (`| head`)."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_closed_stdout_is_not_taken_for_an_unreachable_api(api: Api) -> None:
    api.script["/api/jobs"] = [page(received(NEW, "RUNNING", "09:00:00"))]
    argv = ("jobs", "--api", f"{api.host}/api", "list", "--site", "yard")
    err = io.StringIO()
    with pytest.raises(BrokenPipeError):  # for cli.main: exit 141, as a process SIGPIPE ends; not 3 "try again"
        jobs_command.run(build_parser(argv).parse_args(argv), ClosedPipe(), err)
    assert "unreachable" not in err.getvalue()
