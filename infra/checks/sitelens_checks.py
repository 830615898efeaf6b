"""checkov checks for the settings sitelens depends on and checkov's Bicep checks do not look at.

Loaded with `checkov --external-checks-dir infra/checks` (checkov runs in its own venv, .venv-checkov,
since its pins clash with the app's). Each check reads the parsed Bicep (pycep's structure) and fails
unless the property holds the one safe literal value: a parameter or an expression fails too, since
checkov cannot tell what it will be. tests/unit/infra/test_custom_checks.py proves each check fails on
a small bad template and passes on infra/.
"""

# mypy: allow-subclassing-any
# checkov is not installed in the app's venv, where mypy runs; the checks' own code is still typed.

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from checkov.bicep.checks.resource.base_resource_check import BaseResourceCheck  # type: ignore[import-not-found]
from checkov.common.models.enums import CheckCategories, CheckResult  # type: ignore[import-not-found]

STORAGE = "Microsoft.Storage/storageAccounts"
INSIGHTS = "Microsoft.Insights/components"
WORKSPACE = "Microsoft.OperationalInsights/workspaces"
BATCH = "Microsoft.Batch/batchAccounts"
POOL = "Microsoft.Batch/batchAccounts/pools"
ROLE_ASSIGNMENT = "Microsoft.Authorization/roleAssignments"
QUERY_RULE = "Microsoft.Insights/scheduledQueryRules"
FIVE_MINUTES = ("PT5M", "PT05M", "PT5M0S", "PT05M00S")


def body(conf: dict[str, Any]) -> dict[str, Any]:
    """The resource's own object, under a loop (`[for ...]`) or a condition (`if (...)`) if it has one."""
    while isinstance(conf.get("config"), dict) and ("loop_type" in conf or "condition" in conf):
        conf = conf["config"]
    return conf


def value_at(conf: dict[str, Any], path: str) -> Any:
    node: Any = body(conf)
    for part in path.split("/"):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


class PropertyIs(BaseResourceCheck):
    """Passes when `path` is exactly `expected` (a literal in the template)."""

    def __init__(self, check_id: str, name: str, resource: str, path: str, expected: object) -> None:
        self.inspected, self.expected = path, expected
        super().__init__(name=name, id=check_id, categories=[CheckCategories.GENERAL_SECURITY],
                         supported_resources=[resource])  # fmt: skip

    def scan_resource_conf(self, conf: dict[str, Any]) -> Any:
        self.evaluated_keys = [self.inspected]
        return CheckResult.PASSED if value_at(conf, self.inspected) == self.expected else CheckResult.FAILED


class PoolAutoscales(BaseResourceCheck):
    """The pool scales by formula (never a fixed size), read from a file, evaluated every 5 minutes."""

    def __init__(self) -> None:
        super().__init__(name="Batch pools autoscale with a formula file and a 5-minute interval",
                         id="CKV_SITELENS_7", categories=[CheckCategories.GENERAL_SECURITY],
                         supported_resources=[POOL])  # fmt: skip

    def scan_resource_conf(self, conf: dict[str, Any]) -> Any:
        self.evaluated_keys = ["properties/scaleSettings"]
        scale = value_at(conf, "properties/scaleSettings")
        if not isinstance(scale, dict) or "fixedScale" in scale:
            return CheckResult.FAILED
        formula = value_at(conf, "properties/scaleSettings/autoScale/formula")
        # The file, or the file with its knob lines replaced (checkov resolves the variables).
        while isinstance(formula, dict) and formula.get("function", {}).get("type") == "replace":
            formula = formula["function"]["parameters"]["original_string"]
        from_file = isinstance(formula, dict) and formula.get("function", {}).get("type") == "load_text_content"
        interval = value_at(conf, "properties/scaleSettings/autoScale/evaluationInterval")
        return CheckResult.PASSED if from_file and interval in FIVE_MINUTES else CheckResult.FAILED


class RoleAssignmentNamedByGuid(BaseResourceCheck):
    """guid(scope, principal, role): a re-deployment finds the assignment it made instead of failing."""

    def __init__(self) -> None:
        super().__init__(name="Role assignments are named guid(scope, principal, role)", id="CKV_SITELENS_8",
                         categories=[CheckCategories.IAM], supported_resources=[ROLE_ASSIGNMENT])  # fmt: skip

    def scan_resource_conf(self, conf: dict[str, Any]) -> Any:
        self.evaluated_keys = ["name"]
        name = value_at(conf, "name")
        function = name.get("function", {}) if isinstance(name, dict) else {}
        arguments: Iterable[object] = (function.get("parameters") or {}).values()
        ok = function.get("type") == "guid" and len(list(arguments)) == 3
        return CheckResult.PASSED if ok else CheckResult.FAILED


class ImageVersionPinned(BaseResourceCheck):
    """A pool's image written into the template names a version, never `latest`: nodes added later would run
    another image.

    A parameter or expression passes here (checkov cannot see its value). infra/main.bicep's `nodeImage`
    parameter defaults to `latest` on purpose: no marketplace version carrying the NVIDIA r580 driver the node's
    CUDA 13 runtime needs has been checked, and the start task refuses an older driver (batch_tasks/start.py);
    tests/unit/infra/test_batch.py holds that default and its reason, and docs/deploy.md says how to pin one.
    """

    def __init__(self) -> None:
        super().__init__(name="Batch pool images are pinned to a version, not 'latest'", id="CKV_SITELENS_10",
                         categories=[CheckCategories.GENERAL_SECURITY], supported_resources=[POOL])  # fmt: skip

    def scan_resource_conf(self, conf: dict[str, Any]) -> Any:
        path = "properties/deploymentConfiguration/virtualMachineConfiguration/imageReference"
        self.evaluated_keys = [path]
        image = value_at(conf, path)
        if not isinstance(image, dict):  # a parameter, or no image at all (the service refuses that pool)
            return CheckResult.PASSED
        version = image.get("version")
        literal_latest = isinstance(version, str) and version.strip().lower() == "latest"
        return CheckResult.FAILED if version is None or literal_latest else CheckResult.PASSED


# The window sizes (aggregation granularities) a log search alert accepts, as Azure Monitor offers them.
LOG_ALERT_WINDOWS = ("PT1M", "PT5M", "PT10M", "PT15M", "PT30M", "PT45M", "PT1H", "PT2H", "PT3H", "PT4H", "PT5H",
                     "PT6H", "P1D", "P2D")  # fmt: skip


class LogAlertWindowAllowed(BaseResourceCheck):
    """A log alert's windowSize and evaluationFrequency are literals from the accepted sizes; a computed
    value such as `PT${2 * n}M` is refused by Azure Monitor for most n."""

    def __init__(self) -> None:
        super().__init__(name="Log alert windows and frequencies are sizes Azure Monitor accepts", id="CKV_SITELENS_11",
                         categories=[CheckCategories.GENERAL_SECURITY], supported_resources=[QUERY_RULE])  # fmt: skip

    def scan_resource_conf(self, conf: dict[str, Any]) -> Any:
        self.evaluated_keys = ["properties/windowSize", "properties/evaluationFrequency"]
        values = [value_at(conf, key) for key in self.evaluated_keys]
        return CheckResult.PASSED if all(v in LOG_ALERT_WINDOWS for v in values) else CheckResult.FAILED


checks = [
    PropertyIs("CKV_SITELENS_1", "Storage accounts deny shared key access", STORAGE,
               "properties/allowSharedKeyAccess", False),
    PropertyIs("CKV_SITELENS_2", "Storage accounts deny anonymous blob access", STORAGE,
               "properties/allowBlobPublicAccess", False),
    PropertyIs("CKV_SITELENS_3", "Storage accounts block SAS past their expiration policy", STORAGE,
               "properties/sasPolicy/expirationAction", "Block"),
    PropertyIs("CKV_SITELENS_4", "Application Insights accepts only Entra-authenticated telemetry", INSIGHTS,
               "properties/DisableLocalAuth", True),
    PropertyIs("CKV_SITELENS_5", "Batch accounts accept only Entra ID authentication", BATCH,
               "properties/allowedAuthenticationModes", ["AAD"]),
    PropertyIs("CKV_SITELENS_6", "Batch pools run as a user-assigned identity", POOL,
               "identity/type", "UserAssigned"),
    PoolAutoscales(),
    RoleAssignmentNamedByGuid(),
    PropertyIs("CKV_SITELENS_9", "Log Analytics workspaces accept only Entra-authenticated queries and ingestion",
               WORKSPACE, "properties/features/disableLocalAuth", True),
    ImageVersionPinned(),
    LogAlertWindowAllowed(),
]  # fmt: skip
