"""Monitoring: Entra-only Application Insights over Log Analytics, and the alerts, whose log queries count what the
app reports through the metrics it really records (never sampled, unlike its log lines) and whose metric criteria
name metrics Azure Monitor has for the resource they watch (the idle-GPU alert: test_cost_guard.py)."""

from __future__ import annotations

import re

from shared.jobs import record_expiry
from shared.jobs.models import TERMINAL
from tests.unit.infra import app_metrics, bicep
from tests.unit.infra.bicep_resources import infra_declarations

MAIN = bicep.main()
MONITORING = bicep.module("monitoring")
ALERTS = bicep.module("alerts")
DEPLOY_DOC = (bicep.REPO / "docs" / "deploy.md").read_text()
QUERY_RULES = bicep.resources_of_type(ALERTS, "Microsoft.Insights/scheduledQueryRules")
METRIC_RULES = bicep.resources_of_type(ALERTS, "Microsoft.Insights/metricAlerts")
APP_METRICS = app_metrics.instruments()


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


def test_the_eight_alerts_exist_and_notify_the_action_group_parameter() -> None:
    assert set(QUERY_RULES) == {"poisonAlert", "failureRateAlert", "stuckPoolAlert", "recordsAlert"}
    assert set(METRIC_RULES) == {"functionErrorsAlert", "idleNodesAlert", "deadLetteredAlert", "droppedEventsAlert"}
    assert (
        bicep.render(bicep.variable(ALERTS, "actionGroups")) == "conditional(empty(actionGroupId), [], [actionGroupId])"
    )
    for name in QUERY_RULES:
        props = bicep.resource(ALERTS, name)["properties"]
        assert props["actions"] == {"actionGroups": "actionGroups"}
        assert props["scopes"] == ["workspaceId"]
    for name in METRIC_RULES:
        props = bicep.resource(ALERTS, name)["properties"]
        assert props["actions"]["loop_type"]["detail"]["array_name"] == "actionGroups", name
    errors = bicep.resource(ALERTS, "functionErrorsAlert")["properties"]
    assert errors["scopes"] == ["insightsId"]
    assert errors["criteria"]["allOf"][0]["metricName"] == "requests/failed"


def test_every_log_alert_is_created_without_validating_its_query_against_the_workspace() -> None:
    """A new workspace has none of the tables the log alerts read (AppMetrics, StorageQueueLogs, AzureMetrics) until
    the app, its queues and the pool have run. Azure Monitor refused each rule at creation (SEM0100: failed to resolve
    the table), so a first deployment stopped before the app code that fills AppMetrics, and so did every re-run."""
    rules = [d for d in infra_declarations() if d.type.lower() == "microsoft.insights/scheduledqueryrules"]
    assert {d.symbol for d in rules} >= set(QUERY_RULES)
    for rule in rules:
        assert rule.body["properties"].get("skipQueryValidation") is True, rule.where


def test_the_deployment_outputs_name_every_alert() -> None:
    named = [bicep.render(node) for node in ALERTS["outputs"]["alertNames"]["value"]]
    assert sorted(named) == sorted(f"{symbol}.name" for symbol in {**QUERY_RULES, **METRIC_RULES})
    assert bicep.render(MAIN["outputs"]["ALERTS"]["value"]) == "alerts.outputs.alertNames"


def test_every_alert_has_a_row_in_the_deploy_docs_alerts_table() -> None:
    for symbol in {**QUERY_RULES, **METRIC_RULES}:
        suffix = bicep.render(bicep.resource(ALERTS, symbol)["name"]).removeprefix("${namePrefix}")
        assert f"\n| `sitelens-ENV{suffix}` |" in DEPLOY_DOC, symbol


# Azure Monitor's supported metrics per resource type (learn.microsoft.com/azure/azure-monitor/reference/
# supported-metrics/<type>-metrics): each metric an alert here reads, with the dimensions listed for it.
SUPPORTED_METRICS = {
    ("microsoft.insights/components", "requests/failed"): {
        "request/performanceBucket", "request/resultCode", "operation/synthetic", "cloud/roleInstance",
        "cloud/roleName",
    },
    ("microsoft.batch/batchaccounts", "IdleNodeCount"): set(),
    # Dead Lettered Events and Dropped Events of Microsoft.EventGrid/systemTopics: Count, aggregation Total.
    ("microsoft.eventgrid/systemtopics", "DeadLetteredCount"): {"DeadLetterReason", "EventSubscriptionName"},
    ("microsoft.eventgrid/systemtopics", "DroppedEventCount"): {"DropReason", "EventSubscriptionName"},
}  # fmt: skip


def _watched_type(scope: str) -> str:
    """The type of the resource whose id main.bicep passes the alerts module as parameter `scope`."""
    passed = bicep.render(bicep.body(MAIN["modules"]["alerts"]["config"])["params"][scope])
    module, _, output = passed.partition(".outputs.")
    template = bicep.parse(bicep.INFRA / MAIN["modules"][module]["detail"]["path"])
    symbol, _, attribute = bicep.render(template["outputs"][output]["value"]).partition(".")
    assert attribute == "id", f"{passed} is not a resource id"
    return str(template["resources"][symbol]["type"])


def test_every_metric_alert_reads_a_metric_of_the_resource_it_watches() -> None:
    for symbol in METRIC_RULES:
        props = bicep.resource(ALERTS, symbol)["properties"]
        [scope] = props["scopes"]
        for criterion in props["criteria"]["allOf"]:
            namespace = criterion["metricNamespace"]
            assert namespace.lower() == _watched_type(scope).lower(), symbol
            dimensions = {d["name"] for d in criterion.get("dimensions", [])}
            assert dimensions <= SUPPORTED_METRICS[(namespace.lower(), criterion["metricName"])], symbol


def test_lost_photo_events_alert_on_any_dead_lettered_or_dropped_blob_created_event() -> None:
    """A photo whose event Event Grid dead-lettered (at once on a 400/401/403/413 answer: a regenerated
    blobs_extension key, a stopped app) or dropped has no job, so nothing else would show it."""
    topic = bicep.module("eventgrid")
    assert bicep.render(topic["outputs"]["topicId"]["value"]) == "topic.id"
    expected = {"deadLetteredAlert": ("DeadLetteredCount", "DeadLetterReason"),
                "droppedEventsAlert": ("DroppedEventCount", "DropReason")}  # fmt: skip
    for symbol, (metric, reason) in expected.items():
        props = bicep.resource(ALERTS, symbol)["properties"]
        assert props["scopes"] == ["eventGridTopicId"] and props["enabled"] is True
        [criterion] = props["criteria"]["allOf"]
        assert criterion["metricNamespace"] == "Microsoft.EventGrid/systemTopics"
        assert criterion["metricName"] == metric
        assert (criterion["timeAggregation"], criterion["operator"], criterion["threshold"]) == (
            "Total", "GreaterThan", 0,
        )  # fmt: skip
        # split by subscription and reason: every value, so each notification names them
        assert {d["name"]: (d["operator"], d["values"]) for d in criterion["dimensions"]} == {
            "EventSubscriptionName": ("Include", ["*"]), reason: ("Include", ["*"]),
        }  # fmt: skip
    assert _watched_type("eventGridTopicId") == "Microsoft.EventGrid/systemTopics"


def test_lost_photo_events_alerts_are_documented_with_their_first_look() -> None:
    rows = {line.split("`")[1]: line for line in DEPLOY_DOC.splitlines() if line.startswith("| `sitelens-ENV-")}
    for name in ("sitelens-ENV-photo-events-dead-lettered", "sitelens-ENV-photo-events-dropped"):
        for needed in ("eventgrid-deadletter", "az storage blob list", "blobs_extension"):
            assert needed in rows[name], (name, needed)
    assert "DeadLetteredCount" in rows["sitelens-ENV-photo-events-dead-lettered"]
    assert "DroppedEventCount" in rows["sitelens-ENV-photo-events-dropped"]
    section = DEPLOY_DOC.split("### Dead-lettered events", 1)[1].split("\n## ", 1)[0]
    assert "`sitelens-ENV-photo-events-dead-lettered`" in section


def _service_name(path: str) -> str:
    """The service name a process passes to telemetry.setup: its cloud role in Application Insights."""
    found = re.findall(r'telemetry\.setup\("([^"]+)"', (bicep.REPO / path).read_text())
    assert len(found) == 1, f"{path} no longer names one service"
    return str(found[0])


def test_function_errors_alert_counts_only_the_apps_own_failed_requests() -> None:
    """Across the whole component, requests/failed also counted the node server's node.job (another role, failed
    with each failed inference), so a few failed photos paged as function errors."""
    app_role, node_role = _service_name("function_app.py"), _service_name("batch_tasks/node/server.py")
    assert app_role != node_role
    [criterion] = bicep.resource(ALERTS, "functionErrorsAlert")["properties"]["criteria"]["allOf"]
    assert criterion["metricName"] == "requests/failed"
    assert criterion["dimensions"] == [{"name": "cloud/roleName", "operator": "Include", "values": ["appRoleName"]}]
    assert bicep.variable(ALERTS, "appRoleName") == app_role


def test_poison_alert_counts_moves_to_any_poison_queue() -> None:
    text = query("poisonQuery")
    assert "StorageQueueLogs" in text and '"PutMessage"' in text and '"-poison/messages"' in text
    queue_logs = bicep.resource(bicep.module("storage"), "queueLogs")
    assert queue_logs["scope"] == "queueService"
    assert queue_logs["properties"]["logs"] == [{"categoryGroup": "allLogs", "enabled": True}]


# The log alerts on what the app itself reports, and the query each evaluates.
APP_RULES = {"failureRateAlert": "failureQuery", "stuckPoolAlert": "stuckPoolQuery", "recordsAlert": "recordsQuery"}


def test_alerts_on_what_the_app_reports_read_its_metrics_which_are_never_sampled() -> None:
    """A log line written inside a trace is dropped with it: at a sampling ratio of 0.1 the failure-rate rule, which
    counted the finisher's lines, saw about a tenth of the finished jobs, and the stuck-pool rule, which counted the
    submitter's, missed most outages of a quiet night. The app's metrics are exported whatever the sampler keeps."""
    for symbol, variable in APP_RULES.items():
        [criterion] = bicep.resource(ALERTS, symbol)["properties"]["criteria"]["allOf"]
        assert criterion["query"] == variable, symbol
        text = query(variable)
        assert "AppMetrics" in text and "AppTraces" not in text and "Message" not in text, symbol
        named = app_metrics.named_metrics(text)
        assert named and named <= set(APP_METRICS), (symbol, named - set(APP_METRICS))
        assert all(APP_METRICS[name].kind == "counter" for name in named), symbol
        # a row is one export's increase for one set of attributes: the window's count is their sum
        assert "sum(Sum)" in text or "sumif(Sum, " in text, symbol
        assert "count()" not in text and "| count" not in text, symbol
    for symbol in QUERY_RULES:  # no alert counts log lines, which sampling thins
        [criterion] = bicep.resource(ALERTS, symbol)["properties"]["criteria"]["allOf"]
        assert "AppTraces" not in query(criterion["query"]), symbol


def test_failure_rate_counts_every_terminal_state_the_finisher_counts() -> None:
    by_state = {i.key: i.name for i in APP_METRICS.values() if i.recorder == "photo_finished" and i.kind == "counter"}
    assert set(by_state) == {state.value for state in TERMINAL}
    finisher = (bicep.REPO / "shared" / "jobs" / "finisher.py").read_text()
    assert "metrics.photo_finished(current.site, current.state.value," in finisher, "what the query counts changed"
    text = query("failureQuery")
    assert app_metrics.named_metrics(text) == set(by_state.values())
    assert "Finished = sum(Sum)" in text
    assert f'Failed = sumif(Sum, Name == "{by_state["FAILED"]}")' in text
    assert "{0}" in text and "{1}" in text  # minimum jobs and percentage, from parameters
    assert "Finished >= {0} and Failed * 100.0 / Finished > {1}" in text


def test_stuck_pool_reads_the_task_submissions_and_the_batch_task_starts() -> None:
    [submitted] = [i.name for i in APP_METRICS.values() if i.recorder == "task_submitted"]
    ingestion = (bicep.REPO / "shared" / "jobs" / "ingestion.py").read_text()
    after_submit = r"self\.submitter\.submit\(request\)(?:(?!\n    def )[\s\S])*?metrics\.task_submitted\("
    assert re.search(after_submit, ingestion), "a submission is no longer counted in the method that submits it"
    text = query("stuckPoolQuery")
    assert app_metrics.named_metrics(text) == {submitted}
    assert "between (ago(2 * bound) .. ago(bound))" in text and "summarize sum(Sum)" in text
    # Task starts: the Batch account's documented TaskStartEvent metric (Count, dimensions poolId and
    # jobId, exportable through diagnostic settings), which lands in AzureMetrics.
    assert "AzureMetrics" in text and 'MetricName == "TaskStartEvent"' in text and "sum(Total)" in text
    assert "AzureDiagnostics" not in text  # the service log's column names there are not documented
    batch_logs = bicep.resource(bicep.module("batch"), "batchLogs")
    assert batch_logs["scope"] == "batch"
    assert batch_logs["properties"]["metrics"] == [{"category": "AllMetrics", "enabled": True}]
    assert batch_logs["properties"]["workspaceId"] == "workspaceId"


def test_records_alert_reads_the_record_expiry_outcomes() -> None:
    """Deleted and storage-error jobs, by the outcome record expiry counts each job under: a renamed outcome or
    attribute would silently never match."""
    [counted] = [i for i in APP_METRICS.values() if i.recorder == "record_expired"]
    assert counted.attributes == frozenset({"outcome"})
    source = (bicep.REPO / "shared" / "jobs" / "record_expiry.py").read_text()
    assert "metrics.record_expired(outcome)" in source
    text = query("recordsQuery")
    assert app_metrics.named_metrics(text) == {counted.name}
    assert "extend Outcome = tostring(Properties.outcome)" in text
    assert f'Expired = sumif(Sum, Outcome == "{record_expiry.EXPIRED}")' in text
    assert f'Errors = sumif(Sum, Outcome == "{record_expiry.ERROR}")' in text
    assert "where Errors > 0 and Expired == 0" in text


# The window sizes a log search alert accepts (its aggregation granularities). A computed PT{n}M is
# refused for most n; checkov's CKV_SITELENS_11 holds the same list.
LOG_ALERT_WINDOWS = {
    "PT1M": 1, "PT5M": 5, "PT10M": 10, "PT15M": 15, "PT30M": 30, "PT45M": 45,
    "PT1H": 60, "PT2H": 120, "PT3H": 180, "PT4H": 240, "PT5H": 300, "PT6H": 360, "P1D": 1440, "P2D": 2880,
}  # fmt: skip


def test_every_log_alert_window_is_one_azure_monitor_accepts() -> None:
    for name in QUERY_RULES:
        props = bicep.resource(ALERTS, name)["properties"]
        window, frequency = props["windowSize"], props["evaluationFrequency"]
        assert window in LOG_ALERT_WINDOWS and frequency in LOG_ALERT_WINDOWS, name
        assert LOG_ALERT_WINDOWS[frequency] <= LOG_ALERT_WINDOWS[window], name


def test_stuck_pool_window_covers_twice_every_allowed_bound() -> None:
    window = bicep.resource(ALERTS, "stuckPoolAlert")["properties"]["windowSize"]
    assert "let bound = {0}m;" in query("stuckPoolQuery") and "ago(2 * bound)" in query("stuckPoolQuery")
    for template in (ALERTS, bicep.main()):
        limits = {d["type"]: d.get("argument") for d in template["parameters"]["stuckPoolMinutes"]["decorators"]}
        assert limits["min_value"] >= 15  # scaling from zero takes 10-20 minutes
        assert 2 * limits["max_value"] <= LOG_ALERT_WINDOWS[window]
    for env in ("dev", "prod"):
        text = (bicep.INFRA / f"main.{env}.bicepparam").read_text()
        given = re.search(r"^param stuckPoolMinutes = (\d+)$", text, re.M)
        assert given and 2 * int(given.group(1)) <= LOG_ALERT_WINDOWS[window]
