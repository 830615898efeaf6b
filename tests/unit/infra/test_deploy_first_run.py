"""infra/deploy.sh's first deployment into a new subscription, against the recording stand-in for `az` in
test_deploy_script.py.

A new Batch account's quotas can be 0 (learn.microsoft.com/azure/batch/batch-quota-limit): its pools quota, so the
first deployment stops at the pool, and its GPU cores, so the deployment succeeds with a pool that never gets a node
and every photo waits until it fails timed_out. A failed deployment that names a quota says how to read the account's
quotas and to ask for pools with the cores; after a deployment, a check that only ever warns compares the cores the
account may use for the pool's VM family with what one node (and maxNodes) need. And the app's identity, whose role
on its package container is minutes old, is given as long as any new role assignment to take effect.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.infra import bicep
from tests.unit.infra.test_deploy_script import BATCH_QUOTAS, BATCH_SKUS, DEPLOY, OUTPUTS, calls, option, run

ARGS = ["dev", "rg-sitelens-dev", "westeurope"]
ACCOUNT = OUTPUTS["BATCH_ACCOUNT"]
QUOTAS_SHOWN = '--query "{pools: poolQuota, cores: dedicatedCoreQuota, perFamily: dedicatedCoreQuotaPerVmFamily}"'


def _param(name: str) -> str:
    found = re.search(rf"^param {name} = '?([^'\n]+)'?$", (bicep.INFRA / "main.dev.bicepparam").read_text(), re.M)
    assert found, f"main.dev.bicepparam no longer sets {name}"
    return found.group(1)


def _quotas(per_family: int, cores: int = 500, pools: int = 100) -> str:
    family = BATCH_SKUS[0]["familyName"]
    return json.dumps({**BATCH_QUOTAS, "pools": pools, "cores": cores,
                       "perFamily": [{"name": "standardDv3Family", "coreQuota": 100},
                                     {"name": family, "coreQuota": per_family}]})  # fmt: skip


def _warnings(stderr: str) -> list[str]:
    return [line.split(" deploy: ", 1)[1] for line in stderr.splitlines() if " deploy: warning: " in line]


def test_an_account_without_gpu_cores_is_warned_about_with_the_request_to_make_and_the_deploy_finishes(
    tmp_path: Path,
) -> None:
    """The first deployment printed `done` and the first photo waited 24 hours for a node that could not start."""
    result = run(DEPLOY, ARGS, tmp_path, FAKE_BATCH_QUOTAS=_quotas(per_family=0, pools=0))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "deploy: done: " in result.stderr
    warned = "\n".join(_warnings(result.stderr))
    size, max_nodes = _param("vmSize"), int(_param("maxNodes"))
    assert f"Batch account {ACCOUNT} has 0 dedicated cores for standardNCASv3_T4Family" in warned
    assert f"one {size} node needs 4: the pool cannot start a node" in warned
    needed = max_nodes * 4
    assert f'quota type "Dedicated cores per VM series", VM series "Standard NCASv3_T4 Family", new limit {needed}' in (
        warned
    )
    assert "; pools: at least 1 (" in warned and "total dedicated cores" not in warned  # 500 in total is enough
    assert f"az batch account show -g rg-sitelens-dev -n {ACCOUNT} {QUOTAS_SHOWN}" in warned
    made = calls(tmp_path)
    skus = next(c for c in made if c[:3] == ["batch", "location", "list-skus"])
    assert option(skus, "-l") == "westeurope" and "--query" not in skus  # the size is matched in any case
    account = next(c for c in made if c[:3] == ["batch", "account", "show"])
    assert (option(account, "-g"), option(account, "-n")) == ("rg-sitelens-dev", ACCOUNT)
    for documented in ("poolQuota", "dedicatedCoreQuota", "dedicatedCoreQuotaPerVmFamily"):
        assert f": {documented}" in option(account, "--query")
    steps = [" ".join(c[:3]) for c in made]
    # After the pool exists, before the uploads that follow it.
    pool, check, upload = (steps.index(s) for s in ("deployment group create", "batch account show",
                                                     "storage blob upload"))  # fmt: skip
    assert pool < check < upload


@pytest.mark.parametrize(
    ("answer", "logged"),
    [
        # The family's name matched whatever its case.
        (_quotas(per_family=16).replace("standardNCASv3_T4Family", "StandardNCASv3_T4FAMILY"), "has 16 dedicated"),
        (_quotas(per_family=8), "the pool can grow to 2 of its 4 (maxNodes)"),
        # Per-family quotas not enforced: the account's total alone limits the pool.
        (json.dumps({**json.loads(_quotas(per_family=0, cores=24)), "enforced": False}), "has 24 dedicated cores"),
    ],
)
def test_an_account_whose_quota_starts_a_node_is_not_warned_about(tmp_path: Path, answer: str, logged: str) -> None:
    result = run(DEPLOY, ARGS, tmp_path, FAKE_BATCH_QUOTAS=answer)
    assert result.returncode == 0, result.stderr[-3000:]
    assert _warnings(result.stderr) == []
    assert f"deploy: quota: {ACCOUNT} " in result.stderr and logged in result.stderr


def test_a_regions_whole_size_list_is_read_however_long(tmp_path: Path) -> None:
    """Larger than one command-line argument may be (128 KiB on Linux): it goes to the check on stdin."""
    result = run(DEPLOY, ARGS, tmp_path, FAKE_BATCH_QUOTAS=_quotas(per_family=16), FAKE_OTHER_SKUS="4000")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "quota check skipped" not in result.stderr and f"deploy: quota: {ACCOUNT} has 16 dedicated" in result.stderr


def test_total_cores_below_one_node_are_asked_for_too(tmp_path: Path) -> None:
    result = run(DEPLOY, ARGS, tmp_path, FAKE_BATCH_QUOTAS=_quotas(per_family=16, cores=0))
    assert result.returncode == 0, result.stderr[-3000:]
    warned = "\n".join(_warnings(result.stderr))
    assert "has 0 dedicated cores for standardNCASv3_T4Family" in warned and "; total dedicated cores: 16 (" in warned


@pytest.mark.parametrize(
    ("env", "logged"),
    [
        ({"FAKE_SKUS_FAIL": "1"}, "quota check skipped: az batch location list-skus -l westeurope failed. The quotas: "
         f"az batch account show -g rg-sitelens-dev -n {ACCOUNT} {QUOTAS_SHOWN}"),
        ({"FAKE_BATCH_SKUS": "[]"}, "warning: Batch offers no Standard_NC4as_T4_v3 in this region"),
        ({"FAKE_BATCH_QUOTAS": "not json"}, "quota check skipped: unexpected answers from az"),
    ],
    ids=["list-skus fails", "size not listed", "unreadable quotas"],
)  # fmt: skip
def test_what_the_quota_check_cannot_read_never_fails_the_deploy(
    tmp_path: Path, env: dict[str, str], logged: str
) -> None:
    result = run(DEPLOY, ARGS, tmp_path, **env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert logged in result.stderr
    assert "deploy: done: " in result.stderr
    assert any(c[:4] == ["functionapp", "deployment", "source", "config-zip"] for c in calls(tmp_path))


def test_a_deployment_stopped_by_a_quota_says_to_ask_for_pools_with_the_cores(tmp_path: Path) -> None:
    refused = json.dumps({"code": "DeploymentFailed", "details": [{"code": "PoolQuotaReached", "target": "sitelens-gpu",
                          "message": "The specified account has reached its pool quota."}]})  # fmt: skip
    result = run(DEPLOY, ARGS, tmp_path, FAKE_DEPLOYMENT_ERROR=refused)
    assert result.returncode == 1
    assert "PoolQuotaReached" in result.stderr  # az's own error is still shown
    assert f"az batch account show -g rg-sitelens-dev -n ACCOUNT {QUOTAS_SHOWN}" in result.stderr
    assert "ask for pools of at least 1 in the same quota request as the GPU cores" in result.stderr
    assert "deployment sitelens-dev failed" in result.stderr
    assert "az batch pool delete" not in result.stderr  # not the hint for a pool property that cannot change
    assert not any(c[:3] == ["storage", "blob", "upload"] for c in calls(tmp_path))


def test_the_code_deployment_is_retried_as_long_as_a_new_role_assignment_takes(tmp_path: Path) -> None:
    """It was retried for 300 s, though the app's role on its package container, assigned minutes before, can take
    as long as any other to apply: SITELENS_RBAC_WAIT_S (600 s), which every other step that waits on a role uses."""
    result = run(DEPLOY, ARGS, tmp_path, FAKE_CODE_DEPLOY_FAILURES="2")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "code deployment: not yet, retrying" in result.stderr
    # With no wait for roles at all, one try: the bound is the roles' one. (The uploads' roles are there already.)
    (tmp_path / "no-wait").mkdir()
    result = run(DEPLOY, ARGS, tmp_path / "no-wait", FAKE_CODE_DEPLOY_FAILURES="1", FAKE_ROLES_READY="1",
                 SITELENS_RBAC_WAIT_S="0")  # fmt: skip
    assert result.returncode == 1
    assert "code deployment: still failing after 0s" in result.stderr
    made = calls(tmp_path / "no-wait")
    assert [c[:4] for c in made].count(["functionapp", "deployment", "source", "config-zip"]) == 1


def test_the_pools_size_is_found_in_batchs_list_whatever_its_case() -> None:
    skus = [{"name": "Standard_NC4as_T4_v3", "familyName": "standardNCASv3_T4Family",
             "capabilities": [{"name": "vCPUs", "value": "4"}]}]  # fmt: skip
    quotas = {"pools": 1, "cores": 100, "perFamily": [{"name": "StandardNCASv3_T4Family", "coreQuota": 8}]}
    verdict = subprocess.run(
        [sys.executable, str(bicep.INFRA / "gpu_quota.py"), "standard_nc4as_t4_v3", "2", "acct", "q",
         json.dumps(quotas)], input=json.dumps(skus), capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    assert verdict.stdout.startswith("quota: acct has 8 dedicated cores for standardNCASv3_T4Family")
