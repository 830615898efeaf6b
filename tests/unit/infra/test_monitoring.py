"""Monitoring: Entra-only Application Insights over Log Analytics, and the four alerts, whose log queries
match the messages the code really logs."""

from __future__ import annotations

import re

from tests.unit.infra import bicep

MONITORING = bicep.module("monitoring")
ALERTS = bicep.module("alerts")
QUERY_RULES = bicep.resources_of_type(ALERTS, "Microsoft.Insights/scheduledQueryRules")
METRIC_RULES = bicep.resources_of_type(ALERTS, "Microsoft.Insights/metricAlerts")


def query(variable: str) -> str:
    value = bicep.variable(ALERTS, variable)
    if isinstance(value, dict):  # format('''...''', ...)
        value = value["function"]["parameters"]["format_string"]
    return str(value)


def test_application_insights_is_workspace_based_and_entra_only() -> None:
    props = bicep.resource(MONITORING, "insights")["properties"]
    assert props["DisableLocalAuth"] is True
    assert bicep.render(props["WorkspaceResourceId"]) == "workspace.id"
    workspace = bicep.resource(MONITORING, "workspace")["properties"]
    assert workspace["features"] == {"disableLocalAuth": True}


def test_the_four_alerts_exist_and_notify_the_action_group_parameter() -> None:
    assert set(QUERY_RULES) == {"poisonAlert", "failureRateAlert", "stuckPoolAlert"}
    assert set(METRIC_RULES) == {"functionErrorsAlert"}
    assert (
        bicep.render(bicep.variable(ALERTS, "actionGroups")) == "conditional(empty(actionGroupId), [], [actionGroupId])"
    )
    for name in QUERY_RULES:
        props = bicep.resource(ALERTS, name)["properties"]
        assert props["actions"] == {"actionGroups": "actionGroups"}
        assert props["scopes"] == ["workspaceId"]
    errors = bicep.resource(ALERTS, "functionErrorsAlert")["properties"]
    assert errors["actions"]["loop_type"]["detail"]["array_name"] == "actionGroups"
    assert errors["scopes"] == ["insightsId"]
    assert errors["criteria"]["allOf"][0]["metricName"] == "requests/failed"


def test_poison_alert_counts_moves_to_any_poison_queue() -> None:
    text = query("poisonQuery")
    assert "StorageQueueLogs" in text and '"PutMessage"' in text and '"-poison/messages"' in text
    queue_logs = bicep.resource(bicep.module("storage"), "queueLogs")
    assert queue_logs["scope"] == "queueService"
    assert queue_logs["properties"]["logs"] == [{"categoryGroup": "allLogs", "enabled": True}]


def test_failure_rate_query_matches_the_finisher_log_line() -> None:
    finisher = (bicep.REPO / "shared" / "jobs" / "finisher.py").read_text()
    assert re.search(r'log\.info\("job %s -> %s \(%s\)"', finisher), "the log line the query reads changed"
    text = query("failureQuery")
    assert 'Message startswith "job " and Message has " -> "' in text
    assert 'countif(Message has " -> FAILED")' in text
    assert "{0}" in text and "{1}" in text  # minimum jobs and percentage, from parameters


def test_stuck_pool_query_matches_the_submitter_log_line() -> None:
    submitter = (bicep.REPO / "shared" / "adapters" / "azure_batch_submitter.py").read_text()
    assert 'log.info("submitted task %s to %s"' in submitter, "the log line the query reads changed"
    text = query("stuckPoolQuery")
    assert 'Message startswith "submitted task "' in text
    assert '"TaskStartEvent"' in text
    batch_logs = bicep.resource(bicep.module("batch"), "batchLogs")
    assert batch_logs["scope"] == "batch"
    window = bicep.resource(ALERTS, "stuckPoolAlert")["properties"]["windowSize"]
    assert window == "PT${2 * stuckPoolMinutes}M"  # the query looks back twice the bound
