"""The storage account: Entra-only, HTTPS and TLS 1.2, no anonymous access, bounded SAS, and exactly the
containers, queues and tables the code uses, with lifecycle rules and soft delete."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from shared.adapters import azure_job_store, azure_photo_store, azure_webhook_store
from shared.adapters.azure_notification_queue import NOTIFICATIONS_QUEUE
from shared.jobs.api import LINK_WINDOW
from shared.jobs.document import LINK_TTL
from shared.uploads.naming import PHOTOS
from shared.uploads.service import MAX_TTL as UPLOAD_TTL
from tests.unit.infra import bicep

STORAGE = bicep.module("storage")
ACCOUNT = bicep.resource(STORAGE, "storage")
PROPS = ACCOUNT["properties"]


def _loop_names(resource: str) -> list[str]:
    """The names a `[for name in ...]` resource loops over, with the template's variables resolved."""
    loop = STORAGE["resources"][resource]["config"]["loop_type"]["detail"]["array_name"]
    return _resolve(loop)


def _resolve(node: Any) -> list[str]:
    if isinstance(node, str):
        value = bicep.variable(STORAGE, node)
        return [value] if isinstance(value, str) else [n for item in value for n in _resolve_item(item)]
    if isinstance(node, list):
        return [n for item in node for n in _resolve_item(item)]
    fn = node["function"]
    assert fn["type"] == "concat"
    return [n for arg in fn["parameters"].values() for n in _resolve(arg)]


def _resolve_item(item: str) -> list[str]:
    return _resolve(item) if item in STORAGE["variables"] else [item]


def test_shared_key_and_anonymous_access_are_off() -> None:
    assert PROPS["allowSharedKeyAccess"] is False
    assert PROPS["allowBlobPublicAccess"] is False
    assert PROPS["defaultToOAuthAuthentication"] is True
    assert PROPS["allowCrossTenantReplication"] is False


def test_https_only_with_tls_1_2() -> None:
    assert PROPS["supportsHttpsTrafficOnly"] is True
    assert PROPS["minimumTlsVersion"] == "TLS1_2"


def test_sas_lifetime_is_capped_and_enforced() -> None:
    assert PROPS["sasPolicy"] == {"sasExpirationPeriod": "sasExpirationPeriod", "expirationAction": "Block"}
    default = bicep.main()["parameters"]["sasExpirationPeriod"]["default"]
    days, clock = default.split(".")
    hours, minutes, _ = (int(part) for part in clock.split(":"))
    cap = timedelta(days=int(days), hours=hours, minutes=minutes)
    # The longest links the code signs (results, to the end of the status API's ETag window, and device uploads)
    # plus the clock skew their start allows; task inputs carry no SAS (the pool identity reads them), so nothing
    # needs a day any more.
    longest = max(LINK_TTL + LINK_WINDOW, UPLOAD_TTL) + azure_photo_store.CLOCK_SKEW
    assert longest < cap <= timedelta(hours=1)
    assert not hasattr(azure_photo_store, "TASK_INPUT_TTL")


def test_containers_are_the_ones_the_code_names_and_none_is_public() -> None:
    names = _loop_names("containers")
    assert set(azure_photo_store.CONTAINERS) | {PHOTOS} <= set(names)
    assert set(names) - set(azure_photo_store.CONTAINERS) == {"app-package", "node-package", "eventgrid-deadletter"}
    assert bicep.resource(STORAGE, "containers")["properties"] == {"publicAccess": "None"}


def test_queues_include_the_triggers_and_their_poison_queues() -> None:
    names = set(_loop_names("queues"))
    for queue in ("completions", NOTIFICATIONS_QUEUE):
        assert {queue, f"{queue}-poison"} <= names
    assert "webjobs-blobtrigger-poison" in names


def test_tables_are_the_job_and_webhook_stores() -> None:
    expected = {azure_job_store.JOBS, azure_job_store.FEEDBACK}
    expected |= {azure_webhook_store.SUBSCRIPTIONS, azure_webhook_store.EVENTS, azure_webhook_store.DELIVERIES}
    assert set(_loop_names("tables")) == expected


def test_originals_quarantine_derived_images_and_results_expire() -> None:
    """Every container that holds the photo's image expires: a result's overlay is the photo, boxes drawn."""
    rules = bicep.at(bicep.resource(STORAGE, "lifecycle"), "properties/policy/rules")
    by_prefix = {tuple(r["definition"]["filters"]["prefixMatch"]): r for r in rules}
    expiring = [
        ("photos/", "originals"),
        ("quarantine/", "quarantine"),
        ("derived/", "derived"),
        ("results/", "results"),
    ]
    dead_letters = by_prefix.pop(("${deadLetterContainer}/",))  # the events that name photos go with them
    assert dead_letters["definition"]["actions"]["baseBlob"]["delete"] == {
        "daysAfterModificationGreaterThan": "originalsRetentionDays"
    }
    assert set(by_prefix) == {(prefix,) for prefix, _ in expiring}
    for prefix, parameter in expiring:
        rule = by_prefix[(prefix,)]
        assert rule["enabled"] is True
        delete = rule["definition"]["actions"]["baseBlob"]["delete"]
        assert delete == {"daysAfterModificationGreaterThan": f"{parameter}RetentionDays"}
    assert by_prefix[("results/",)]["name"] == "expire-results"
    assert f"{azure_photo_store.RESULTS}/" == "results/"


def test_what_a_device_can_leave_beside_its_photo_expires_with_it() -> None:
    """A create-only SAS lets a device snapshot its photo or re-create the name as an append blob. Lifecycle
    deletes no base blob that still has snapshots, and `blobTypes` ['blockBlob'] never matches an append blob:
    so the originals' and rejects' rules take append blobs and delete snapshots after the same days."""
    rules = bicep.at(bicep.resource(STORAGE, "lifecycle"), "properties/policy/rules")
    by_prefix = {tuple(r["definition"]["filters"]["prefixMatch"]): r for r in rules}
    for prefix, parameter in (("photos/", "originals"), ("quarantine/", "quarantine")):
        definition = by_prefix[(prefix,)]["definition"]
        assert set(definition["filters"]["blobTypes"]) == {"blockBlob", "appendBlob"}
        snapshots = definition["actions"]["snapshot"]["delete"]
        assert snapshots == {"daysAfterCreationGreaterThan": f"{parameter}RetentionDays"}


def test_the_results_retention_is_a_bounded_parameter_the_app_reads_too() -> None:
    """The storage rule and the app's reuse and links count the same days: main.bicep passes the one parameter
    to both, and each environment sets it."""
    main = bicep.main()
    parameter = main["parameters"]["resultsRetentionDays"]
    decorators = {d["type"]: d["argument"] for d in parameter["decorators"] if "argument" in d}
    assert decorators["min_value"] == 1 and parameter["default"] >= 1
    storage_call = bicep.body(main["modules"]["storage"]["config"])["params"]
    assert bicep.render(storage_call["resultsRetentionDays"]) == "resultsRetentionDays"
    settings = bicep.variable(main, "sitelensSettings")
    assert bicep.render(settings["SITELENS_RESULTS_RETENTION_DAYS"]) == "string(resultsRetentionDays)"
    for environment in ("dev", "prod"):
        assert "param resultsRetentionDays = " in (bicep.REPO / "infra" / f"main.{environment}.bicepparam").read_text()


def test_records_last_as_long_as_results_in_every_environment_and_reach_the_app() -> None:
    """The app refuses to start when records are kept less long than results: main.bicep's default follows the
    results' days when they are longer than a year, and each environment's parameters keep records longer."""
    main = bicep.main()
    settings = bicep.variable(main, "sitelensSettings")
    assert bicep.render(settings["SITELENS_RECORDS_RETENTION_DAYS"]) == "string(recordsRetentionDays)"
    assert bicep.render(main["parameters"]["recordsRetentionDays"]["default"]) == "max(365, resultsRetentionDays)"
    for environment in ("dev", "prod"):
        text = (bicep.REPO / "infra" / f"main.{environment}.bicepparam").read_text()
        days = {name: int(found[1]) for name in ("records", "results")
                if (found := re.search(rf"param {name}RetentionDays = (\d+)", text))}  # fmt: skip
        assert days.keys() == {"records", "results"}, environment
        assert days["records"] >= days["results"], environment


def test_deleted_blobs_and_containers_can_be_restored() -> None:
    service = bicep.resource(STORAGE, "blobService")["properties"]
    for policy in ("deleteRetentionPolicy", "containerDeleteRetentionPolicy"):
        assert service[policy] == {"enabled": True, "days": "softDeleteDays"}
