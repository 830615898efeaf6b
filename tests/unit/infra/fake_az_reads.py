"""What the recording stand-in for `az` (test_deploy_script.py) answers when infra/deploy.sh reads the resource group's
deployments or the activity log, as the test's environment says:

- `deployment group show --query properties.outputs`: the deployment's outputs, their names' case changed as ARM
  changes it (STORAGE_ACCOUNT comes back as storagE_ACCOUNT); FAKE_EMPTY_OUTPUT names one left empty;
- `deployment group show --query properties.parameters.environmentName.value`: FAKE_DEPLOYED_ENVIRONMENT, the
  environmentName the deployment was made with; without it the deployment does not exist;
- `deployment group list`: FAKE_DEPLOYMENTS, a JSON object of each deployment's name and its environmentName;
- `monitor activity-log list`: the events of FAKE_ACTIVITY_LOG (a JSON list) of the resource and status asked."""

from __future__ import annotations

import json
import os
import sys

OUTPUTS_QUERY = "properties.outputs"
ENVIRONMENT_QUERY = "properties.parameters.environmentName.value"
DEPLOYMENTS_QUERY = "[].[name, properties.parameters.environmentName.value]"
# The commands answered here, as their first three words.
READS = ("deployment group show", "deployment group list", "monitor activity-log list")


def option(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def arm_case(name: str) -> str:
    """ARM's spelling of an output name: its first word lower case but for the last letter (storagE_ACCOUNT)."""
    first = name.split("_", maxsplit=1)[0]
    return first[:-1].lower() + name[len(first) - 1 :]


def deployment_show(args: list[str], outputs: dict[str, str]) -> int:
    query = option(args, "--query")
    if query == OUTPUTS_QUERY:
        dropped = os.environ.get("FAKE_EMPTY_OUTPUT")
        shown = {arm_case(k): {"type": "String", "value": "" if k == dropped else v} for k, v in outputs.items()}
        print(json.dumps(shown))
        return 0
    assert query == ENVIRONMENT_QUERY and option(args, "-o") == "tsv", args
    if "FAKE_DEPLOYED_ENVIRONMENT" not in os.environ:
        print(f"ERROR: (DeploymentNotFound) Deployment '{option(args, '-n')}' could not be found.", file=sys.stderr)
        return 3
    print(os.environ["FAKE_DEPLOYED_ENVIRONMENT"])
    return 0


def deployment_list(args: list[str]) -> int:
    assert option(args, "--query") == DEPLOYMENTS_QUERY and option(args, "-o") == "tsv", args
    deployments: dict[str, str] = json.loads(os.environ.get("FAKE_DEPLOYMENTS", "{}"))
    for name, environment in deployments.items():
        print(f"{name}\t{environment}")
    return 0


def activity_log(args: list[str]) -> int:
    assert option(args, "-o") == "json" and option(args, "--start-time"), args
    resource, status = option(args, "--resource-id").lower(), option(args, "--status")
    events: list[dict[str, object]] = json.loads(os.environ.get("FAKE_ACTIVITY_LOG", "[]"))
    chosen = [e for e in events if str(e.get("resourceId", "")).lower() == resource
              and (e.get("status") or {}) == {"value": status, "localizedValue": status}]  # fmt: skip
    print(json.dumps(chosen))
    return 0


def answer_read(args: list[str], outputs: dict[str, str]) -> int:
    """Print the answer to one of the reads above and return az's exit status."""
    command = " ".join(args[:3])
    if command == "deployment group show":
        return deployment_show(args, outputs)
    if command == "deployment group list":
        return deployment_list(args)
    assert command == "monitor activity-log list", args
    return activity_log(args)
