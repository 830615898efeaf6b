"""infra/teardown.sh run for real against a recording stand-in for `az`: after the typed confirmation, and only
then, it removes the storage account's delete lock (which would make the group's deletion fail) and the pool
kick's custom role (a role definition outlives its group), looked up in the group and deleted by its id, then
deletes the group; a refused role deletion is reported with the role's id and the teardown goes on, a role it
does not find is not reported deleted, and a lock it cannot remove, or one it did not place, stops it before
anything is removed. And the lock in the templates: on the
storage account, behind a parameter that prod sets and dev does not."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.infra import bicep
from tests.unit.infra.test_deploy_script import option

TEARDOWN = bicep.INFRA / "teardown.sh"
GROUP = "rg-sitelens-prod"
ACCOUNT = "baprodabcdefghijklm"
ACCOUNT_ID = f"/subscriptions/s/resourceGroups/{GROUP}/providers/Microsoft.Batch/batchAccounts/{ACCOUNT}"
LOCK_ID = f"/subscriptions/s/resourceGroups/{GROUP}/providers/Microsoft.Storage/storageAccounts/st/providers/Microsoft.Authorization/locks/x"  # noqa: E501
STORAGE = bicep.module("storage")
LOCK = bicep.resources_of_type(STORAGE, "Microsoft.Authorization/locks")
ROLE_GUID = "0b0c52b5-4a1d-5e6f-8a9b-0c1d2e3f4a5b"
ROLE_ID = f"/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/{ROLE_GUID}"
# Records each call; answers the queries teardown.sh makes from FAKE_* variables; fails a command whose
# first three words are in FAKE_REFUSE (comma-separated).
FAKE_AZ = """\
#!{python}
import json, os, sys
from pathlib import Path
args = sys.argv[1:]
with Path(os.environ["FAKE_STATE"], "calls.jsonl").open("a") as f:
    f.write(json.dumps(args) + "\\n")
if " ".join(args[:3]) in os.environ.get("FAKE_REFUSE", "").split(","):
    print("AuthorizationFailed", file=sys.stderr)
    sys.exit(1)
if args[:2] == ["group", "exists"]:
    print("true")
elif args[:2] == ["lock", "list"]:
    query = args[args.index("--query") + 1]
    if "!=" in query:  # the locks someone else placed
        print(os.environ.get("FAKE_OTHER_LOCKS", ""))
    else:
        print(os.environ.get("FAKE_LOCK_ID", "") if os.environ.get("FAKE_LOCK_NAME", "") in query else "")
elif args[:3] == ["batch", "account", "list"]:
    print(os.environ.get("FAKE_ACCOUNTS", ""))
elif args[:3] == ["role", "definition", "list"]:
    print(os.environ.get("FAKE_ROLE_IDS", ""))
"""


def teardown(tmp_path: Path, *args: str, answer: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir(exist_ok=True)
    (fake_bin / "az").write_text(FAKE_AZ.format(python=sys.executable))
    (fake_bin / "az").chmod(0o755)
    lock_name = bicep.resource(STORAGE, next(iter(LOCK)))["name"]
    environ = {"PATH": f"{fake_bin}:{os.environ['PATH']}", "FAKE_STATE": str(tmp_path), "FAKE_LOCK_NAME": lock_name,
               "FAKE_LOCK_ID": LOCK_ID, "FAKE_ACCOUNTS": f"{ACCOUNT}\t{ACCOUNT_ID}", "FAKE_ROLE_IDS": ROLE_ID,
               **env}  # fmt: skip
    return subprocess.run(["bash", str(TEARDOWN), GROUP, *args], input=answer, capture_output=True, text=True,
                          env=environ, timeout=60, check=False)  # fmt: skip


def calls(tmp_path: Path) -> list[list[str]]:
    log = tmp_path / "calls.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def kick_role() -> str:
    """The custom role's name as roles.bicep builds it for the Batch account ACCOUNT."""
    name = str(bicep.resource(bicep.module("roles"), "poolAutoscaleKick")["properties"]["roleName"])
    assert name == "sitelens pool autoscale kick (${batchAccountName})"
    return name.replace("${batchAccountName}", ACCOUNT)


def test_the_lock_and_the_custom_role_go_after_the_confirmation_and_before_the_group(tmp_path: Path) -> None:
    result = teardown(tmp_path, answer=f"{GROUP}\n")
    assert result.returncode == 0, result.stderr
    made = calls(tmp_path)
    steps = [" ".join(c[:3]) for c in made]
    assert steps == ["group exists -n", "lock list -g", "lock list -g", "lock delete --ids", "batch account list",
                     "role definition list", "role assignment delete", "role definition delete",
                     "group delete -n"]  # fmt: skip
    assert made[3] == ["lock", "delete", "--ids", LOCK_ID, "--output", "none"]
    # az finds a role assignable only in the group at the group's scope alone, and only while the group exists.
    lookup, assignment, definition = made[5], made[6], made[7]
    assert option(lookup, "--name") == kick_role() and option(lookup, "--resource-group") == GROUP
    # Azure refuses to delete a role still assigned: the app's assignment on the account goes first.
    assert option(assignment, "--role") == kick_role() and option(assignment, "--scope") == ACCOUNT_ID
    # By its id (the definition's name), which names the role that was found and nothing else.
    assert option(definition, "--name") == ROLE_GUID and option(definition, "--resource-group") == GROUP
    assert f"deleted the custom role '{kick_role()}' ({ROLE_ID})" in result.stderr
    assert made[-1] == ["group", "delete", "-n", GROUP, "--yes"]


def test_nothing_is_removed_without_the_confirmation(tmp_path: Path) -> None:
    result = teardown(tmp_path, answer="rg-other\n")
    assert result.returncode == 1
    assert [c[:2] for c in calls(tmp_path)] == [["group", "exists"]]


def test_a_refused_role_deletion_is_reported_with_its_id_and_the_group_still_goes(tmp_path: Path) -> None:
    result = teardown(tmp_path, "--yes", FAKE_REFUSE="role assignment delete,role definition delete")
    assert result.returncode == 0, result.stderr
    assert f"could not delete the custom role '{kick_role()}'" in result.stderr
    assert f"stays behind as {ROLE_ID}" in result.stderr, "the id to delete it by later"
    assert "deleted the custom role" not in result.stderr
    assert calls(tmp_path)[-1][:2] == ["group", "delete"]


def test_a_role_it_does_not_find_is_not_reported_deleted(tmp_path: Path) -> None:
    """`az role definition delete` exits 0 when nothing matches, so only a lookup tells whether a role was there."""
    result = teardown(tmp_path, "--yes", FAKE_ROLE_IDS="")
    assert result.returncode == 0, result.stderr
    assert "deleted the custom role" not in result.stderr
    assert f"no custom role '{kick_role()}' in {GROUP}: nothing to delete" in result.stderr
    assert [" ".join(c[:3]) for c in calls(tmp_path)][4:] == [
        "batch account list", "role definition list", "group delete -n"]  # fmt: skip


def test_a_role_it_cannot_look_up_is_reported_and_the_group_still_goes(tmp_path: Path) -> None:
    result = teardown(tmp_path, "--yes", FAKE_REFUSE="role definition list")
    assert result.returncode == 0, result.stderr
    assert f"could not look up the custom role '{kick_role()}'" in result.stderr
    assert "deleted the custom role" not in result.stderr
    steps = [" ".join(c[:3]) for c in calls(tmp_path)]
    assert "role assignment delete" not in steps and "role definition delete" not in steps
    assert steps[-1] == "group delete -n"


def test_a_lock_that_cannot_be_removed_stops_the_teardown(tmp_path: Path) -> None:
    result = teardown(tmp_path, "--yes", FAKE_REFUSE="lock delete --ids")
    assert result.returncode == 1
    assert "could not remove lock" in result.stderr and "nothing deleted" in result.stderr
    assert not [c for c in calls(tmp_path) if c[:2] == ["group", "delete"] or c[:2] == ["role", "definition"]]


def test_without_a_lock_or_an_account_it_deletes_the_group_alone(tmp_path: Path) -> None:
    result = teardown(tmp_path, "--yes", FAKE_LOCK_ID="", FAKE_ACCOUNTS="")
    assert result.returncode == 0, result.stderr
    assert [" ".join(c[:3]) for c in calls(tmp_path)] == [
        "group exists -n", "lock list -g", "lock list -g", "batch account list", "group delete -n"]  # fmt: skip


def test_the_storage_account_has_a_delete_lock_behind_a_parameter() -> None:
    assert len(LOCK) == 1, "one lock, on the storage account"
    symbol, declared = next(iter(LOCK.items()))
    assert declared["api_version"] == "2020-05-01"
    assert declared["config"]["condition"] == "deleteLock"
    body = bicep.resource(STORAGE, symbol)
    assert body["scope"] == "storage"
    assert body["properties"]["level"] == "CanNotDelete"
    call = bicep.body(bicep.main()["modules"]["storage"]["config"])["params"]
    assert call["deleteLock"] == "storageDeleteLock"
    assert bicep.main()["parameters"]["storageDeleteLock"]["default"] is True  # azd and new environments


@pytest.mark.parametrize(("env", "locked"), [("prod", "true"), ("dev", "false")])
def test_prod_locks_its_storage_account_and_dev_does_not(env: str, locked: str) -> None:
    text = (bicep.INFRA / f"main.{env}.bicepparam").read_text()
    assert re.findall(r"^param storageDeleteLock = (\w+)$", text, re.M) == [locked]


def test_usage_prints_the_whole_header_comment() -> None:
    shown = subprocess.run(["bash", str(TEARDOWN)], check=False, capture_output=True, text=True, timeout=30)
    assert shown.returncode == 2
    header = []
    for line in TEARDOWN.read_text().splitlines()[1:]:
        if not line.startswith("#"):
            break
        header.append(line.removeprefix("#").removeprefix(" "))
    assert shown.stderr.splitlines() == header


def test_a_lock_someone_else_placed_stops_the_teardown_before_anything_is_removed(tmp_path: Path) -> None:
    other = f"/subscriptions/s/resourceGroups/{GROUP}/providers/Microsoft.Authorization/locks/policy-lock"
    result = teardown(tmp_path, "--yes", FAKE_OTHER_LOCKS=other)
    assert result.returncode == 1 and other in result.stderr and "nothing deleted" in result.stderr
    assert [" ".join(c[:2]) for c in calls(tmp_path)] == ["group exists", "lock list"]  # no delete of any kind
