"""Each setting's default is stated once, in code; docs/configuration.md and infra/main.bicep must agree.

Agreement is checked by behaviour, not by text: giving the app a setting with the value the docs call its
default (or the value infra passes) must read to exactly the settings the app has without it."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from batch_tasks.ocr.opencv import MAX_PIXELS
from shared import config
from shared.config import Settings
from shared.pipeline_settings import MAX_DURATION_S
from shared.validation import Limits
from shared.webhooks import endpoint, retry
from tests.unit.infra import bicep

DOC = (bicep.REPO / "docs" / "configuration.md").read_text()
# Pages that restate some of the app's settings in a table of their own.
APP_SETTING_PAGES = ("configuration.md", "uploads.md")
WEBHOOKS_DOC = (bicep.REPO / "docs" / "webhooks.md").read_text()
BASE = {config.STORAGE: config.dev_storage_connection_string()}
# Its default is "true" locally, "false" elsewhere; it is refused outright off loopback storage, so the
# base (Azurite's string) would accept both: checked on its own below.
SPECIAL = {config.ALLOW_LOOPBACK}
# The timer triggers name these (`%SITELENS_…_SCHEDULE%`): the host requires them, so they have no default.
SCHEDULES = {"SITELENS_RECONCILE_SCHEDULE", "SITELENS_WEBHOOK_SWEEP_SCHEDULE", "SITELENS_RECORDS_EXPIRY_SCHEDULE"}
LOCAL = json.loads((bicep.REPO / "local.settings.json.example").read_text())["Values"]


def read(env: dict[str, str]) -> Settings:
    return Settings.from_env(env)


def documented_defaults(page: str = "configuration.md") -> dict[str, str]:
    """`SITELENS_*` → the value in the default column, for rows whose default is a value (not "required")."""
    found: dict[str, str] = {}
    text = (bicep.REPO / "docs" / page).read_text()
    for names, default in re.findall(r"^\| (`SITELENS_\w+`(?:, `SITELENS_\w+`)*) \|.*\| ([^|]+) \|$", text, re.M):
        value = re.match(r"`([^`]*)`", default.strip())
        if default.strip() == "empty":
            value_text = ""
        elif value:
            value_text = value.group(1)
        else:
            continue  # "-", "required ...", or a description
        for name in re.findall(r"`(SITELENS_\w+)`", names):
            found[name] = value_text
    return found


def infra_values() -> dict[str, Any]:
    """`SITELENS_*` → what infra/main.bicep passes where it is a parameter's default or a literal variable."""
    main = bicep.main()
    values: dict[str, Any] = {}
    for name, expression in bicep.variable(main, "sitelensSettings").items():
        symbol = re.fullmatch(r"(?:string\()?(\w+)\)?", bicep.render(expression))
        if symbol is None:
            continue  # another resource's output
        parameter = main["parameters"].get(symbol.group(1), {})
        variable = main["variables"].get(symbol.group(1), {}).get("value")
        if "default" in parameter and not isinstance(parameter["default"], dict):  # a dict: an expression
            values[name] = parameter["default"]
        elif isinstance(variable, str):
            values[name] = variable
    return values


def test_the_table_states_a_default_for_the_settings_that_have_one() -> None:
    stated = documented_defaults()
    assert len(stated) >= 15, "the table's parse found too few rows to be right"
    assert {"SITELENS_WEBHOOK_STALE_ATTEMPT_S", "SITELENS_WEBHOOK_LOST_MESSAGE_S", "SITELENS_UPLOAD_SAS_TTL_S",
            "SITELENS_MAX_PHOTO_BYTES", "SITELENS_STUCK_AFTER_S"} <= set(stated)  # fmt: skip


@pytest.mark.parametrize(
    ("page", "name"),
    [(page, name) for page in APP_SETTING_PAGES for name in sorted(set(documented_defaults(page)) - SPECIAL)],
)
def test_the_documented_default_is_the_codes(page: str, name: str) -> None:
    value = documented_defaults(page)[name]
    assert read({**BASE, name: value}) == read(BASE), f"docs/{page}: {name} defaults to {value!r}"


def test_a_changed_default_would_be_caught() -> None:
    """The check above sees a difference: a value other than the default reads to other settings."""
    assert read({**BASE, "SITELENS_WEBHOOK_STALE_ATTEMPT_S": "76"}) != read(BASE)
    assert read({**BASE, "SITELENS_UPLOAD_SAS_TTL_S": "600"}) != read(BASE)


def test_the_loopback_allowance_is_off_unless_set() -> None:
    assert documented_defaults()[config.ALLOW_LOOPBACK] == "false"
    assert not Settings.from_env(BASE).webhooks_allow_loopback


@pytest.mark.parametrize("name", sorted(set(infra_values()) - SCHEDULES))
def test_infra_passes_the_codes_default(name: str) -> None:
    """Azure runs on the code's defaults: main.bicep passes every setting, so each value it passes by default
    must read as the code's own."""
    value = infra_values()[name]
    assert read({**BASE, name: str(value)}) == read(BASE), f"infra/main.bicep: {name} = {value!r}"


def row_of(name: str) -> str:
    return next(line for line in DOC.splitlines() if line.startswith(f"| `{name}`"))


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_the_schedules_are_documented_with_infras_values(name: str) -> None:
    assert f"`{infra_values()[name]}` in Azure" in row_of(name)


@pytest.mark.parametrize("name", sorted(n for n in LOCAL if n.startswith("SITELENS_")))
def test_local_settings_set_only_what_differs_and_the_docs_say_so(name: str) -> None:
    value = LOCAL[name]
    assert f"`{value}` locally" in row_of(name)
    if name not in SCHEDULES:
        assert read({**BASE, name: value}) != read(BASE), f"{name}={value} is the default: leave it out"


def test_validation_caps_default_to_the_settings() -> None:
    settings = Settings.from_env(BASE).pipeline
    assert (Limits().max_bytes, Limits().max_pixels) == (settings.max_photo_bytes, settings.max_photo_pixels)


def _duration(td: Any) -> str:
    seconds = int(td.total_seconds())
    for unit, size in (("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def test_docs_webhooks_states_the_retry_schedule_and_timeout_of_the_code() -> None:
    row = next(line for line in WEBHOOKS_DOC.splitlines() if line.startswith("| wait |"))
    assert [cell.strip() for cell in row.strip("|").split("|")[1:]] == [_duration(d) for d in retry.SCHEDULE]
    assert f"2xx within {endpoint.TIMEOUT_S:.0f} s" in WEBHOOKS_DOC
    assert f"±{retry.JITTER:.0%} jitter".replace("%", " %") in WEBHOOKS_DOC


def infra_bounds() -> dict[str, tuple[int | None, int | None]]:
    """`SITELENS_*` → (minValue, maxValue) of the integer parameter main.bicep passes it from."""
    main = bicep.main()
    bounds: dict[str, tuple[int | None, int | None]] = {}
    for name, expression in bicep.variable(main, "sitelensSettings").items():
        symbol = re.fullmatch(r"string\((\w+)\)", bicep.render(expression))
        parameter = main["parameters"].get(symbol.group(1), {}) if symbol else {}
        if parameter.get("type") == "int":
            found = {d["type"]: d["argument"] for d in parameter.get("decorators", [])}
            bounds[name] = (found.get("min_value"), found.get("max_value"))
    return bounds


# Records last at least as long as results, and at least the days infra's records floor gives a job's work.
def _records_beside(results_days: int) -> int:
    return max(results_days, infra_bounds()["SITELENS_RECORDS_RETENTION_DAYS"][0] or 1)


def _same(days: int) -> int:
    return days


KEPT_LONGER = {"SITELENS_RECORDS_RETENTION_DAYS": ("SITELENS_RESULTS_RETENTION_DAYS", _same),
               "SITELENS_RESULTS_RETENTION_DAYS": ("SITELENS_RECORDS_RETENTION_DAYS", _records_beside)}  # fmt: skip


@pytest.mark.parametrize("name", sorted(infra_bounds()))
def test_an_integer_infra_passes_is_bounded_and_the_app_reads_it_at_the_bounds(name: str) -> None:
    """Every integer the template passes has a floor, and the app starts at both bounds: a deployment that
    succeeds never leaves every HTTP function answering 503 configuration_error."""
    low, high = infra_bounds()[name]
    assert low is not None, f"infra/main.bicep: the parameter behind {name} has no @minValue"
    for allowed in (low, high):
        if allowed is not None:
            partner = {}  # records must last as long as results: each is read beside the same value of the other
            if name in KEPT_LONGER:
                other, partner_days = KEPT_LONGER[name]
                partner = {other: str(partner_days(allowed))}
            read({**BASE, name: str(allowed), **partner})  # raises ConfigError if the app refuses it


@pytest.mark.parametrize(
    ("name", "refused"),
    [("SITELENS_TASK_MAX_RETRIES", "11"), ("SITELENS_TASK_MAX_RETRIES", "-1"), ("SITELENS_STUCK_AFTER_S", "0"),
     ("SITELENS_GIVE_UP_AFTER_S", "0"), ("SITELENS_MAX_PHOTO_BYTES", "0"), ("SITELENS_TASK_MAX_WALL_CLOCK_S", "0"),
     ("SITELENS_WEBHOOK_STALE_ATTEMPT_S", "0"), ("SITELENS_WEBHOOK_LOST_MESSAGE_S", "0"),
     ("SITELENS_UPLOAD_SAS_TTL_S", "0"), ("SITELENS_MAX_PHOTO_PIXELS", "0"),
     ("SITELENS_MAX_PHOTO_PIXELS", str(MAX_PIXELS + 1))]
    + [(name, str(MAX_DURATION_S + 1)) for name in (
        "SITELENS_STUCK_AFTER_S", "SITELENS_GIVE_UP_AFTER_S", "SITELENS_TASK_MAX_WALL_CLOCK_S",
        "SITELENS_WEBHOOK_STALE_ATTEMPT_S", "SITELENS_WEBHOOK_LOST_MESSAGE_S")],
)  # fmt: skip
def test_what_the_app_refuses_the_template_refuses_first(name: str, refused: str) -> None:
    with pytest.raises(config.ConfigError):
        read({**BASE, name: refused})
    low, high = infra_bounds()[name]
    assert not (low is not None and low <= int(refused) and (high is None or int(refused) <= high)), name
