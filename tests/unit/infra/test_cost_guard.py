"""The cost guard: an idle-GPU metric alert on the Batch account that leaves the working-hours floor alone, and
a monthly budget on the resource group, deployed only when monthlyBudget is above 0, whose start date is
set once by the operator instead of being recomputed (Azure refuses to change a budget's start date)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.unit.infra import bicep
from tests.unit.infra.bicep_eval import Evaluator

MAIN = bicep.main()
ALERTS = bicep.module("alerts")
BUDGET = bicep.module("budget")
DEPLOY_DOC = (bicep.REPO / "docs" / "deploy.md").read_text()

# The windows and evaluation frequencies a metric alert accepts (Azure Monitor's metric alert rule sizes).
METRIC_ALERT_WINDOWS = {
    "PT1M": 1, "PT5M": 5, "PT15M": 15, "PT30M": 30, "PT1H": 60, "PT6H": 360, "PT12H": 720, "PT24H": 1440,
}  # fmt: skip
METRIC_ALERT_FREQUENCIES = {"PT1M", "PT5M", "PT15M", "PT30M", "PT1H"}
# After the last pending task the formula keeps the nodes holdMinutes, then Batch needs up to an autoscale
# interval (5 minutes) and a node's removal to let them go: idle nodes that the alert must not count.
RELEASE_MINUTES = 5 + 10


def _idle_alert() -> dict[str, Any]:
    return dict(bicep.resource(ALERTS, "idleNodesAlert")["properties"])


def _allowed(template: dict[str, Any], parameter: str) -> list[Any]:
    decorators = template["parameters"][parameter]["decorators"]
    return next(d["argument"] for d in decorators if d["type"] == "allowed")


def _limits(template: dict[str, Any], parameter: str) -> dict[str, Any]:
    return {d["type"]: d.get("argument") for d in template["parameters"][parameter]["decorators"]}


def _bicepparam(env: str) -> dict[str, str]:
    """The `param NAME = VALUE` lines an environment's parameter file sets (commented ones are not set)."""
    text = (bicep.INFRA / f"main.{env}.bicepparam").read_text()
    return dict(re.findall(r"^param (\w+) = (.+)$", text, re.M))


def _environment_values(env: str | None) -> dict[str, Any]:
    """The values main.bicep deploys with: an environment's integer and string literals over the defaults."""
    values = {name: spec["default"] for name, spec in MAIN["parameters"].items()}
    for name, value in (_bicepparam(env) if env else {}).items():
        if re.fullmatch(r"-?\d+", value):
            values[name] = int(value)
        elif re.fullmatch(r"'[^']*'", value):
            values[name] = value.strip("'")
    return values


def _budget_deployed(arguments: dict[str, Any]) -> bool:
    """main.bicep's condition on the budget module, evaluated with these parameter values."""
    condition = MAIN["modules"]["budget"]["config"]["condition"]
    assert bicep.render(condition) == "greater_than(monthlyBudget, 0)"
    operands = condition["operator"]["operands"]
    evaluator = Evaluator(MAIN, arguments)
    return bool(evaluator.evaluate(operands["operand_1"]) > evaluator.evaluate(operands["operand_2"]))


# ---- idle GPU nodes ------------------------------------------------------------------------------


def test_idle_alert_counts_idle_nodes_above_the_working_hours_floor() -> None:
    idle = _idle_alert()
    [criterion] = idle["criteria"]["allOf"]
    assert idle["criteria"]["'odata.type'"] == "Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria"
    assert criterion["metricNamespace"] == "Microsoft.Batch/batchAccounts"
    assert criterion["metricName"] == "IdleNodeCount"
    # Idle at every sample of the window, and more of them than the nodes the formula keeps on purpose.
    assert criterion["timeAggregation"] == "Minimum"
    assert (criterion["operator"], criterion["threshold"]) == ("GreaterThan", "minNodesAtWork")
    assert idle["scopes"] == ["batchAccountId"]


def test_main_gives_the_idle_alert_the_pools_own_floor_and_batch_account() -> None:
    alerts = bicep.body(MAIN["modules"]["alerts"]["config"])["params"]
    batch = bicep.body(MAIN["modules"]["batch"]["config"])["params"]
    assert alerts["minNodesAtWork"] == batch["minNodesAtWork"] == "minNodesAtWork"
    assert bicep.render(alerts["batchAccountId"]) == "batch.outputs.batchAccountId"
    assert alerts["idleNodeHours"] == "idleNodeHours"


def test_idle_alert_window_is_a_metric_alert_window_for_every_allowed_value() -> None:
    idle = _idle_alert()
    assert idle["windowSize"] == "PT${idleNodeHours}H"
    assert idle["evaluationFrequency"] in METRIC_ALERT_FREQUENCIES
    for template in (ALERTS, MAIN):
        for hours in _allowed(template, "idleNodeHours"):
            window = f"PT{hours}H"
            assert window in METRIC_ALERT_WINDOWS, window
            assert METRIC_ALERT_WINDOWS[idle["evaluationFrequency"]] <= METRIC_ALERT_WINDOWS[window]


def test_every_metric_alert_window_is_one_azure_monitor_accepts() -> None:
    for name in bicep.resources_of_type(ALERTS, "Microsoft.Insights/metricAlerts"):
        props = bicep.resource(ALERTS, name)["properties"]
        window = props["windowSize"]
        hours = _allowed(ALERTS, "idleNodeHours")
        windows = [f"PT{h}H" for h in hours] if window == "PT${idleNodeHours}H" else [window]
        assert set(windows) <= set(METRIC_ALERT_WINDOWS), name
        assert props["evaluationFrequency"] in METRIC_ALERT_FREQUENCIES, name


@pytest.mark.parametrize("env", [None, "dev", "prod"])
def test_idle_window_outlasts_the_nodes_autoscale_holds_on_purpose(env: str | None) -> None:
    values = _environment_values(env)
    assert values["idleNodeHours"] * 60 > values["holdMinutes"] + RELEASE_MINUTES
    assert values["idleNodeHours"] in _allowed(MAIN, "idleNodeHours")


def test_idle_alert_is_documented_with_its_first_look() -> None:
    row = next(line for line in DEPLOY_DOC.splitlines() if line.startswith("| `sitelens-ENV-gpu-nodes-idle`"))
    for needed in ("IdleNodeCount", "minNodesAtWork", "idleNodeHours", "az batch pool show", "autoScaleRun",
                   "az batch pool autoscale evaluate", "az batch node list"):  # fmt: skip
        assert needed in row, needed


# ---- the monthly budget --------------------------------------------------------------------------


def test_budget_is_monthly_cost_and_notifies_the_action_group_at_80_100_and_forecast_100() -> None:
    [(symbol, declared)] = bicep.resources_of_type(BUDGET, "Microsoft.Consumption/budgets").items()
    assert "@2024-08-01" in (bicep.MODULES / "budget.bicep").read_text()
    props = bicep.resource(BUDGET, symbol)["properties"]
    assert (props["category"], props["timeGrain"], props["amount"]) == ("Cost", "Monthly", "amount")
    assert props["timePeriod"] == {"startDate": "startDate"}
    notifications = props["notifications"].values()
    assert sorted((n["threshold"], n["thresholdType"]) for n in notifications) == [
        (80, "Actual"), (100, "Actual"), (100, "Forecasted"),
    ]  # fmt: skip
    for notification in notifications:
        assert notification["enabled"] is True and notification["operator"] == "GreaterThan"
        assert notification["contactGroups"] == ["actionGroupId"]
    assert declared["type"] == "Microsoft.Consumption/budgets"


def test_main_passes_the_budget_its_amount_start_date_and_action_group() -> None:
    params = bicep.body(MAIN["modules"]["budget"]["config"])["params"]
    assert (params["amount"], params["startDate"], params["actionGroupId"]) == (
        "monthlyBudget", "budgetStartDate", "actionGroupId",
    )  # fmt: skip


@pytest.mark.parametrize(("monthly_budget", "deployed"), [(0, False), (1, True), (2000, True)])
def test_budget_is_deployed_only_above_zero(monthly_budget: int, deployed: bool) -> None:
    assert _budget_deployed({"monthlyBudget": monthly_budget}) is deployed


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_no_environment_deploys_a_budget_by_default(env: str) -> None:
    assert MAIN["parameters"]["monthlyBudget"]["default"] == 0
    assert _limits(MAIN, "monthlyBudget")["min_value"] == 0
    assert _budget_deployed({"monthlyBudget": _environment_values(env)["monthlyBudget"]}) is False


def test_the_start_date_is_set_once_not_recomputed_at_each_deployment() -> None:
    """A budget's start date cannot be updated: a default of utcNow('yyyy-MM-01') would fail every deployment
    made in a later month than the budget's first."""
    default = MAIN["parameters"]["budgetStartDate"]["default"]
    assert default == ""
    assert "utcnow(" not in (bicep.INFRA / "main.bicep").read_text().lower()
    # An empty date (or one of another length) stops the budget's deployment before Azure sees it; the form
    # yyyy-MM-01 itself is Azure's to check.
    assert {k: v for k, v in _limits(BUDGET, "startDate").items() if k != "description"} == {
        "min_length": 10, "max_length": 10,
    }  # fmt: skip
    assert _limits(BUDGET, "actionGroupId")["min_length"] == 1
    prod = (bicep.INFRA / "main.prod.bicepparam").read_text()
    example = re.search(r"^// param budgetStartDate = '(\d{4}-\d{2}-\d{2})'$", prod, re.M)
    assert example and example.group(1).endswith("-01")


def test_budget_parameters_and_cost_guard_are_documented() -> None:
    for name in ("monthlyBudget", "budgetStartDate", "idleNodeHours"):
        assert f"`{name}`" in DEPLOY_DOC, name
    assert "### Cost guard" in DEPLOY_DOC
    assert "Start date of budgets cannot be updated" in DEPLOY_DOC
