"""`sitelens models` and `sitelens erase` as real processes, where no storage call is made: a refusal or an error
is said on stderr with nothing on stdout (so `models publish … > published.txt` still shows it), and a connection
string the storage SDK cannot parse ends the command with exit 2 and a message naming where it came from, never
the string itself (it may hold the account key), nor a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support.stack import REPO

pytestmark = pytest.mark.integration
JOB_ID = "j_" + "a" * 26
SECRET = "S3CRETc2VjcmV0"  # what an account key in the string would be: never printed
MALFORMED = f"AccountName=sitelens;AccountKey={SECRET};garbage"  # a part without "=": the SDK refuses it
PARSES = "AccountName=sitelens"  # the blob SDK takes it without a call (the tables SDK does not: see below)


def sitelens(*args: str, environ: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI with no storage, API or stack in its environment but what `environ` names."""
    env = {k: v for k, v in os.environ.items() if k != "AzureWebJobsStorage" and not k.startswith("SITELENS_")}
    return subprocess.run([sys.executable, "-m", "sitelens", *args], cwd=REPO, env={**env, **(environ or {})},
                          capture_output=True, text=True, check=False, timeout=120)  # fmt: skip


INIT = ["models", "init", "--kind", "classify", "--name", "m", "--version", "1.0.0", "--out", "{dir}/out"]
REFUSED = {  # commands refused before any storage call ({dir} is the test's folder): exit code, what stderr says
    "publish": (["models", "publish", "{dir}", "--connection-string", PARSES], 1, "models publish: refused, nothing"),
    "init": ([*INIT, "--onnx", "{dir}/none.onnx"], 1, "models init: refused"),
    "test": (["models", "test", "{dir}", "{dir}/gone.jpg"], 1, "models test: no such photo: {dir}/gone.jpg"),
    "route": (["models", "route", "--model", "m:1.0.0", "--weight", "-1"], 1, "models route: --weight must be 0"),
    "erase": (["erase", "not-a-job", "--connection-string", PARSES], 2, "erase: 'not-a-job' is not a job id"),
}


@pytest.mark.parametrize("command", REFUSED)
def test_a_refusal_goes_to_stderr_and_nothing_to_stdout(tmp_path, command):
    template, code, said = REFUSED[command]
    done = sitelens(*(arg.replace("{dir}", str(tmp_path)) for arg in template), environ={"AzureWebJobsStorage": PARSES})
    assert (done.returncode, done.stdout) == (code, ""), done.stdout + done.stderr
    assert said.replace("{dir}", str(tmp_path)) in done.stderr


COMMANDS = {
    "models routes": ["models", "routes"],
    "models route": ["models", "route", "--model", "m:1.0.0"],
    "models publish": ["models", "publish", "."],
    "erase": ["erase", JOB_ID, "--yes"],
}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("source", ["--connection-string", "AzureWebJobsStorage"])
def test_a_malformed_connection_string_exits_2_naming_its_source_not_its_value(command, source):
    args = COMMANDS[command]
    if source == "--connection-string":
        done = sitelens(*args, "--connection-string", MALFORMED)
    else:
        done = sitelens(*args, environ={"AzureWebJobsStorage": MALFORMED})
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"the connection string in {source} is malformed" in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert SECRET not in done.stdout + done.stderr


def test_erase_names_the_source_when_only_the_tables_sdk_refuses_the_string():
    """The blob SDK takes an account name alone; the tables SDK, which erase also needs, does not."""
    done = sitelens("erase", JOB_ID, "--yes", environ={"AzureWebJobsStorage": PARSES})
    assert done.returncode == 2, done.stdout + done.stderr
    assert "the connection string in AzureWebJobsStorage is malformed" in done.stderr
    assert "Traceback" not in done.stderr


NOT_HTTPS = ["not a url", "http://acct.blob.core.windows.net", "https://", "acct.blob.core.windows.net"]


@pytest.mark.parametrize("command", [["models", "routes"], ["models", "publish", "."], ["erase", "--site", "s1"]])
@pytest.mark.parametrize("url", NOT_HTTPS)
def test_an_account_url_that_is_no_https_url_is_refused_before_any_call(command, url):
    # Tried as it was, the SDK would look the text up as a host name (and wait on it) rather than refuse it.
    done = sitelens(*command, "--account-url", url)
    assert done.returncode == 2 and "is not an https URL with a host" in done.stderr, done.stderr
