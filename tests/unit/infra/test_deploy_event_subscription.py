"""The Event Grid subscription infra/deploy.sh writes (step 6, and azd's postdeploy hook), against the recording
stand-in for `az` in test_deploy_script.py.

`az eventgrid system-topic event-subscription create` has no dead-letter identity options, so every deployment
failed there; the subscription is now a PUT of the system topic's child resource with `az rest`, whose body holds
the webhook key. Its shape is Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15's. `az rest` returns
before Event Grid has validated the webhook, so the reason for a Failed subscription comes from the activity log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.unit.infra.test_deploy_script import BLOB_KEY, DEPLOY, OUTPUTS, TOPIC_ID, calls, option, run

HOOK_ENV = {"RESOURCE_GROUP": "rg-sitelens-dev",
            **{name: OUTPUTS[name] for name in ("FUNCTION_APP_NAME", "FUNCTION_APP_HOSTNAME", "EVENT_GRID_TOPIC",
                                                "EVENT_GRID_DEAD_LETTER_CONTAINER_ID")}}  # fmt: skip
SUBSCRIPTION_ID = f"{TOPIC_ID}/eventSubscriptions/photos-blob-created"
URL = f"{SUBSCRIPTION_ID}?api-version=2022-06-15"
ACCOUNT_ID = "/subscriptions/s/resourceGroups/rg-sitelens-dev/providers/Microsoft.Storage/storageAccounts/stdevabc"
WEBHOOK = (f"https://{OUTPUTS['FUNCTION_APP_HOSTNAME']}/runtime/webhooks/blobs"
           f"?functionName=Host.Functions.on_photo_uploaded&code={BLOB_KEY}")  # fmt: skip
EXPECTED_BODY = {"properties": {
    "destination": {"endpointType": "WebHook", "properties": {"endpointUrl": WEBHOOK}},
    "filter": {"includedEventTypes": ["Microsoft.Storage.BlobCreated"],
               "subjectBeginsWith": "/blobServices/default/containers/photos/", "isSubjectCaseSensitive": False},
    "eventDeliverySchema": "EventGridSchema",
    "retryPolicy": {"maxDeliveryAttempts": 30, "eventTimeToLiveInMinutes": 1440},
    # Undeliverable events go to the dead-letter container, written with the topic's own identity.
    "deadLetterWithResourceIdentity": {
        "identity": {"type": "SystemAssigned"},
        "deadLetterDestination": {
            "endpointType": "StorageBlob",
            "properties": {"resourceId": ACCOUNT_ID, "blobContainerName": "eventgrid-deadletter"},
        },
    },
}}  # fmt: skip


def post_deploy(tmp_path: Path, **env: str) -> Any:
    (tmp_path / "tmp").mkdir(exist_ok=True)
    return run(DEPLOY, ["azd-postdeploy"], tmp_path, TMPDIR=str(tmp_path / "tmp"), **{**HOOK_ENV, **env})


def verbs(tmp_path: Path, method: str) -> list[list[str]]:
    return [c for c in calls(tmp_path) if c[:3] == ["rest", "--method", method]]


def kept_body(tmp_path: Path, number: int) -> tuple[str, dict[str, Any]]:
    mode, text = json.loads((tmp_path / f"subscription-body-{number}.json").read_text())
    return mode, json.loads(text)


def test_the_subscription_is_put_with_its_dead_letter_identity_from_a_private_file(tmp_path: Path) -> None:
    result = post_deploy(tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert not [c for c in calls(tmp_path) if c[:3] == ["eventgrid", "system-topic", "event-subscription"]]
    [put] = verbs(tmp_path, "put")
    # A path, not a URL: az rest sends it to the signed-in cloud's Resource Manager.
    assert option(put, "--url") == URL and URL.startswith("/subscriptions/")
    assert option(put, "--output") == "none"  # nothing az answers is printed
    mode, body = kept_body(tmp_path, 1)
    assert body == EXPECTED_BODY
    assert mode == "0o600"
    body_file = Path(option(put, "--body").removeprefix("@"))
    assert body_file.parent == tmp_path / "tmp" and not body_file.exists()  # removed when deploy.sh ended
    assert list((tmp_path / "tmp").iterdir()) == []
    assert BLOB_KEY not in result.stdout + result.stderr + (tmp_path / "calls.jsonl").read_text()
    assert [option(c, "--url") for c in verbs(tmp_path, "get")] == [URL]


def test_the_step_waits_for_event_grid_and_puts_again_after_a_failed_validation(tmp_path: Path) -> None:
    # Creating, then Failed (the webhook did not answer the handshake yet): written again, then Succeeded.
    result = post_deploy(tmp_path, FAKE_SUBSCRIPTION_STATES="Creating,Failed,Succeeded")
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(verbs(tmp_path, "put")) == 2 and len(verbs(tmp_path, "get")) == 3
    assert kept_body(tmp_path, 2) == kept_body(tmp_path, 1)
    assert "event subscription: Failed" in result.stderr
    assert "deploy: health: " in result.stderr  # the smoke check ran after it


def test_a_dead_letter_container_id_of_another_shape_stops_before_the_put(tmp_path: Path) -> None:
    result = post_deploy(tmp_path, EVENT_GRID_DEAD_LETTER_CONTAINER_ID="/subscriptions/s/eventgrid-deadletter")
    assert result.returncode == 1
    assert "could not write the event subscription's body" in result.stderr
    assert verbs(tmp_path, "put") == []
    assert list((tmp_path / "tmp").iterdir()) == []  # the partial body is removed too


def failed_write(resource_id: str, timestamp: str, *messages: str) -> dict[str, Any]:
    """An activity log event as `az monitor activity-log list` prints it: a subscription's write that failed, its
    error (the outermost message first, then its details') in properties.statusMessage, a JSON string."""
    details = [{"code": "Url validation", "message": message} for message in messages[1:]]
    error = {"code": "ResourceOperationFailure", "message": messages[0], "details": details}
    return {
        "eventTimestamp": timestamp,
        "resourceId": resource_id.upper(),  # as the activity log spells it
        "status": {"value": "Failed", "localizedValue": "Failed"},
        "operationName": {"value": "Microsoft.EventGrid/systemTopics/eventSubscriptions/write"},
        "properties": {"statusCode": "BadRequest", "statusMessage": json.dumps({"status": "Failed", "error": error})},
    }


def test_a_failed_subscription_is_logged_with_the_reason_event_grid_gave_never_the_key(tmp_path: Path) -> None:
    """The log repeated `Failed` for 5 minutes and never said why: the operation's error (the webhook did not answer
    the handshake) reaches only the activity log. Its message names the webhook's URL, which carries the key."""
    handshake = (f"Webhook validation handshake failed for {WEBHOOK}. Http POST request failed with response code "
                 "Unknown. For troubleshooting, visit https://aka.ms/esvalidation.")  # fmt: skip
    events = [
        failed_write(SUBSCRIPTION_ID, "2026-12-07T21:50:01Z", "an older failure, not this one"),
        failed_write(SUBSCRIPTION_ID, "2026-12-07T21:50:31Z", "The resource operation completed with terminal "
                     "provisioning state 'Failed'.", handshake),
        failed_write(f"{TOPIC_ID}/eventSubscriptions/another", "2026-12-07T21:51:00Z", "another subscription's"),
    ]  # fmt: skip
    result = post_deploy(tmp_path, FAKE_SUBSCRIPTION_STATES="Failed,Succeeded", FAKE_ACTIVITY_LOG=json.dumps(events))
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(verbs(tmp_path, "put")) == 2  # written again after the failure
    base = WEBHOOK.split("?", maxsplit=1)[0]
    assert f"event subscription: Failed: Webhook validation handshake failed for {base}?..." in result.stderr
    assert "Http POST request failed with response code Unknown" in result.stderr
    assert "terminal provisioning state 'Failed'" in result.stderr
    assert "an older failure" not in result.stderr and "another subscription's" not in result.stderr
    assert BLOB_KEY not in result.stdout + result.stderr + (tmp_path / "calls.jsonl").read_text()
    [read] = [c for c in calls(tmp_path) if c[:3] == ["monitor", "activity-log", "list"]]
    assert (option(read, "--resource-id"), option(read, "--status")) == (SUBSCRIPTION_ID, "Failed")


def test_a_failure_not_yet_in_the_activity_log_says_where_to_look(tmp_path: Path) -> None:
    result = post_deploy(tmp_path, FAKE_SUBSCRIPTION_STATES="Failed,Succeeded")
    assert result.returncode == 0, result.stderr[-3000:]
    assert (
        "event subscription: Failed; the activity log shows no reason yet (or could not be read): az monitor "
        "activity-log list "
        f"--resource-id {SUBSCRIPTION_ID} --status Failed --start-time " in result.stderr
    )
