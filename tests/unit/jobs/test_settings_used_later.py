"""Settings whose bad values used to be accepted at start and break a later use (every submit, every table
request, every webhook delivery, a timer the host quietly disables) are refused when the settings are read,
named, like every other malformed setting."""

from __future__ import annotations

import re

import pytest

from batch_tasks.ocr.opencv import MAX_PIXELS
from emulators.functions_host.ncrontab import CronSchedule, parse_schedule
from shared import config, pipeline_settings
from shared.adapters.azure_batch_submitter import BatchTaskSubmitter, TaskSpec
from shared.adapters.azure_job_store import TableJobStore
from shared.adapters.azure_webhook_store import TableWebhookStore
from shared.config import ConfigError, Settings
from shared.jobs.ports import TaskRequest
from shared.uploads.azure_table_reservations import TableReservationStore

BASE = {"AzureWebJobsStorage": "UseDevelopmentStorage=true"}
REQUEST = TaskRequest("j_x", "sitelens-20261206", "ocr/ppocrv4", "http://127.0.0.1:10000/derived/j_x")
# Azure's rule for a table name.
AZURE_TABLE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]{2,62}")
# function_app.py's timers
SCHEDULES = ("SITELENS_RECONCILE_SCHEDULE", "SITELENS_WEBHOOK_SWEEP_SCHEDULE", "SITELENS_RECORDS_EXPIRY_SCHEDULE")


def refusal(env: dict[str, str]) -> str:
    with pytest.raises(ConfigError, match="invalid or missing settings") as info:
        Settings.from_env({**BASE, **env})
    assert info.value.reason == "configuration_error"
    return str(info.value)


def command_line(command: str) -> str:
    built = BatchTaskSubmitter(client=None, spec=TaskSpec(pool_id="p", command=command))._task(REQUEST)  # type: ignore[arg-type]
    return built.command_line


BAD_COMMANDS = [
    '/bin/sh -c "${AZ_BATCH_NODE_SHARED_DIR}/sitelens/current/bin/python -m batch_tasks.task {job_id} {input}"',
    "python -m batch_tasks.task {jobid} {input}",
    'python -m batch_tasks.task {job_id} {input} --opts {"a": 1}',
    "python -m batch_tasks.task {0} {input}",
    "python -m batch_tasks.task {job_id!z} {input}",
    "python -m batch_tasks.task {job_id} {input",
]


@pytest.mark.parametrize("command", BAD_COMMANDS)
def test_a_task_command_the_submitter_cannot_fill_in_is_refused_at_start(command: str) -> None:
    with pytest.raises(Exception):  # noqa: B017 (what the submitter raises varies: KeyError, ValueError ...)
        command_line(command)
    said = refusal({"SITELENS_TASK_COMMAND": command})
    assert "SITELENS_TASK_COMMAND may name only {job_id} and {input}" in said and "${{VAR}}" in said


def test_a_field_other_than_job_id_and_input_is_refused_even_where_it_would_format() -> None:
    command = "python -m batch_tasks.task {job_id.upper} {input}"
    assert "built-in method upper" in command_line(command)  # what the submitter would send to Batch
    assert "may name only {job_id} and {input} in braces" in refusal({"SITELENS_TASK_COMMAND": command})


def test_an_empty_task_command_is_refused() -> None:
    assert "SITELENS_TASK_COMMAND must be a command line" in refusal({"SITELENS_TASK_COMMAND": "  "})


def test_a_task_command_with_its_other_braces_doubled_is_read_and_submitted_as_meant() -> None:
    command = (
        '/bin/sh -c "${{AZ_BATCH_NODE_SHARED_DIR}}/sitelens/current/bin/python -m batch_tasks.task '
        '{job_id} {input} --opts {{\\"a\\": 1}}"'
    )
    accepted = Settings.from_env({**BASE, "SITELENS_TASK_COMMAND": command}).pipeline.task_command
    assert command_line(accepted) == (
        '/bin/sh -c "${AZ_BATCH_NODE_SHARED_DIR}/sitelens/current/bin/python -m batch_tasks.task '
        'j_x input.jpg --opts {\\"a\\": 1}"'
    )


def test_photo_pixels_are_bounded_by_what_opencv_decodes() -> None:
    said = refusal({"SITELENS_MAX_PHOTO_PIXELS": str(MAX_PIXELS + 1)})
    assert f"SITELENS_MAX_PHOTO_PIXELS must be a whole number of at least 1 and at most {MAX_PIXELS}" in said
    assert Settings.from_env({**BASE, "SITELENS_MAX_PHOTO_PIXELS": str(MAX_PIXELS)}).pipeline.max_photo_pixels == (
        MAX_PIXELS
    )


class _RecordingTables:
    """A table service that records the names of the tables the stores create."""

    def __init__(self) -> None:
        self.created: list[str] = []

    def create_table_if_not_exists(self, name: str) -> object:
        self.created.append(name)
        return object()


def created_tables(prefix: str = "") -> list[str]:
    tables = _RecordingTables()
    for store in (TableJobStore, TableWebhookStore, TableReservationStore):
        store(tables, prefix=prefix)  # type: ignore[arg-type]
    return tables.created


@pytest.mark.parametrize("prefix", ["dev-", "dev_", "1dev", " dev", "dév"])
def test_a_table_prefix_that_makes_an_invalid_table_name_is_refused(prefix: str) -> None:
    assert "SITELENS_TABLE_PREFIX must be empty or a letter followed by letters and digits" in refusal(
        {"SITELENS_TABLE_PREFIX": prefix}
    )


def test_the_longest_prefix_is_the_one_that_keeps_every_table_name_within_63_characters() -> None:
    longest = 63 - max(len(name) for name in created_tables())
    assert Settings.from_env({**BASE, "SITELENS_TABLE_PREFIX": "x" * longest}).table_prefix == "x" * longest
    assert "SITELENS_TABLE_PREFIX must be empty or" in refusal({"SITELENS_TABLE_PREFIX": "x" * (longest + 1)})


@pytest.mark.parametrize("prefix", ["", "d", "dev", "Dev2", "sitelensStaging2"])
def test_an_accepted_table_prefix_makes_every_table_name_valid(prefix: str) -> None:
    assert Settings.from_env({**BASE, "SITELENS_TABLE_PREFIX": prefix}).table_prefix == prefix
    assert all(AZURE_TABLE_NAME.fullmatch(name) for name in created_tables(prefix))


def test_the_prefix_bound_is_the_one_the_stores_table_names_leave() -> None:
    assert all(name.startswith("p") for name in created_tables("p"))
    assert config.MAX_TABLE_NAME - max(len(name) for name in created_tables()) == config.MAX_TABLE_PREFIX


@pytest.mark.parametrize("ports", ["", " ", ",", " , "])
def test_an_empty_list_of_webhook_ports_is_refused(ports: str) -> None:
    assert "SITELENS_WEBHOOKS_ALLOWED_PORTS must name at least one port" in refusal(
        {"SITELENS_WEBHOOKS_ALLOWED_PORTS": ports}
    )


@pytest.mark.parametrize("value", ["on", "ture", "off", "2", "enabled"])
def test_a_loopback_allowance_other_than_true_or_false_is_refused(value: str) -> None:
    assert f"SITELENS_WEBHOOKS_ALLOW_LOOPBACK must be true or false, not {value!r}" in refusal(
        {"SITELENS_WEBHOOKS_ALLOW_LOOPBACK": value}
    )


@pytest.mark.parametrize(
    ("value", "allowed"), [("true", True), ("TRUE", True), ("1", True), ("yes", True), ("false", False),
                           ("False", False), ("0", False), ("no", False), ("", False)]
)  # fmt: skip
def test_the_loopback_allowance_reads_its_spellings(value: str, allowed: bool) -> None:
    assert Settings.from_env({**BASE, "SITELENS_WEBHOOKS_ALLOW_LOOPBACK": value}).webhooks_allow_loopback is allowed


BAD_SCHEDULES = ["*/5 * * *", "0 */5 * * * * *", "00:05:00", "0 */5 * * * ?", "", "every 5 minutes", "0 5 * * * $"]
GOOD_SCHEDULES = [
    "0 */5 * * * *",
    "*/5 * * * *",
    "*/10 * * * * *",
    "0 0 0 1 1 *",
    "0 30 9 * Jan-Mar MON-FRI",
    "0 0,30 8-18/2 * * 1-5",
]


@pytest.mark.parametrize("name", SCHEDULES)
@pytest.mark.parametrize("schedule", BAD_SCHEDULES)
def test_a_timer_schedule_that_is_not_six_ncrontab_fields_is_refused(name: str, schedule: str) -> None:
    assert f"{name} must be an NCRONTAB schedule of six fields" in refusal({name: schedule})


@pytest.mark.parametrize("name", SCHEDULES)
@pytest.mark.parametrize("schedule", GOOD_SCHEDULES)
def test_a_six_field_schedule_is_accepted_and_is_one_the_host_reads(name: str, schedule: str) -> None:
    Settings.from_env({**BASE, name: schedule})
    assert isinstance(parse_schedule(schedule), CronSchedule)  # the local host's NCRONTAB parser agrees


@pytest.mark.parametrize(
    ("timeout", "wall_clock", "said"),
    [('"10m"', None, "must be a number above 0, not '10m'"), ('"0"', None, "must be a number above 0"),
     ("-5", None, "must be a number above 0"), ('"nan"', None, "must be a number above 0"),
     ('"600"', None, "must be below SITELENS_TASK_MAX_WALL_CLOCK_S (600 s), not 600"),
     ("1200", "900", "must be below SITELENS_TASK_MAX_WALL_CLOCK_S (900 s), not 1200")],
)  # fmt: skip
def test_a_task_wait_the_task_environment_sets_must_be_positive_and_below_the_wall_clock(
    timeout: str, wall_clock: str | None, said: str
) -> None:
    env = {"SITELENS_TASK_ENV": f'{{"SITELENS_TASK_TIMEOUT_S": {timeout}}}'}
    if wall_clock is not None:
        env["SITELENS_TASK_MAX_WALL_CLOCK_S"] = wall_clock
    assert f"SITELENS_TASK_ENV[SITELENS_TASK_TIMEOUT_S] {said}" in refusal(env)


@pytest.mark.parametrize(("timeout", "wall_clock"), [('"100"', "600"), ("599.5", "600"), ("900", "1200")])
def test_a_task_wait_below_the_wall_clock_is_passed_to_the_task(timeout: str, wall_clock: str) -> None:
    env = {**BASE, "SITELENS_TASK_ENV": f'{{"SITELENS_TASK_TIMEOUT_S": {timeout}}}',
           "SITELENS_TASK_MAX_WALL_CLOCK_S": wall_clock}  # fmt: skip
    assert Settings.from_env(env).pipeline.task_env == {"SITELENS_TASK_TIMEOUT_S": timeout.strip('"')}


def test_the_settings_pixel_cap_is_opencvs_and_reading_settings_loads_no_opencv_or_sdk() -> None:
    import subprocess
    import sys

    assert pipeline_settings.MAX_PIXELS == MAX_PIXELS
    probe = "import sys, shared.config; print(' '.join(sorted(sys.modules)))"
    repo = config.__file__.rsplit("/shared/", 1)[0]
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=repo)
    modules = set(loaded.stdout.split())
    assert not modules & {"cv2", "azure.batch", "azure.data.tables", "azure.storage.blob"}


@pytest.mark.parametrize(
    ("name", "value"),
    [("SITELENS_DEFAULT_MODEL", ""), ("SITELENS_DEFAULT_MODEL", "ocr"), ("SITELENS_DEFAULT_MODEL", "ocr/ppocrv4 "),
     ("SITELENS_BATCH_POOL_ID", ""), ("SITELENS_BATCH_POOL_ID", "gpu pool"),
     ("SITELENS_NODE_IDENTITY_ID", "id-sitelens-node"), ("SITELENS_NODE_IDENTITY_ID", "/subscriptions/s/x")],
)  # fmt: skip
def test_names_batch_and_the_registry_would_refuse_on_every_photo_are_refused_at_start(name: str, value: str) -> None:
    assert f"{name} must match" in refusal({name: value})


def test_the_names_the_templates_and_the_local_stack_set_are_accepted() -> None:
    identity = ("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-sitelens-prod/providers/"
                "Microsoft.ManagedIdentity/userAssignedIdentities/id-sitelens-prod-node")  # fmt: skip
    env = {**BASE, "SITELENS_DEFAULT_MODEL": "ocr/ppocrv4", "SITELENS_BATCH_POOL_ID": "sitelens-gpu",
           "SITELENS_NODE_IDENTITY_ID": identity}  # fmt: skip
    pipeline = Settings.from_env(env).pipeline
    assert (pipeline.default_model, pipeline.pool_id, pipeline.node_identity_id) == (
        "ocr/ppocrv4", "sitelens-gpu", identity)  # fmt: skip
    assert Settings.from_env({**BASE, "SITELENS_NODE_IDENTITY_ID": ""}).pipeline.node_identity_id is None
