#!/usr/bin/env bash
# Deploy sitelens into one resource group with az. Re-runnable: every step converges on the same state.
#
#   infra/deploy.sh ENV RG LOCATION     e.g. infra/deploy.sh dev rg-sitelens-dev westeurope
#
# 1. the resource group and the Bicep deployment (infra/main.bicep with infra/main.ENV.bicepparam), once the
#    default model verifies and, on an update, matches the manifest the existing deployment stores for its version
#    (then a check of the Batch account's GPU quota: a warning if the pool cannot start a node, never a stop)
# 2. the node package (start task, batch_tasks, its requirements) and the default model, once its version's stored
#    manifest (if any) is the folder's: a different one stops the deployment before anything is uploaded
# 3. the Functions app code (one deploy, built remotely)
# 4. the Event Grid subscription for photos/ (its webhook key exists only once the app runs)
# 5. a smoke check of GET /api/health
#
# azd runs steps 2, 4 and 5 as hooks (azure.yaml): `deploy.sh azd-postprovision` / `azd-postdeploy`,
# with the deployment's outputs in the environment; `deploy.sh azd-preprovision` tells azd what kind of
# principal is signed in and, on an update, runs step 1's model check. Needs az (logged in), python3, curl, and
# the repo's venv with the model fetched (`make setup`). No Microsoft Graph rights and no subscription-level
# rights are needed; a subscription owner registers the resource providers once (or run with
# SITELENS_REGISTER_PROVIDERS=1 as one).
# UserSubscription pool mode needs SITELENS_BATCH_SERVICE_PRINCIPAL_ID. docs/deploy.md explains each step.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Build outputs (packages, the deployment's error log, a downloaded manifest), one folder per environment: two
# deployments from one checkout must not write each other's files. Set by main (build_dir).
BUILD=
# The parameter file's environmentName, which resource names and tags come from: ENVIRONMENT, but for a copied file
# deployed before deploy.sh compared the two (check_environment_name). Set by provision.
ENVIRONMENT_NAME=
PYTHON="${PYTHON:-$REPO/.venv/bin/python}"
MODEL_DIR="${SITELENS_MODEL_DIR:-$REPO/models/ocr/ppocrv4}"
# The blob trigger's function name (function_app.py), as Event Grid must address it.
BLOB_FUNCTION=on_photo_uploaded
SUBSCRIPTION_NAME=photos-blob-created
# The Event Grid REST API version the subscription is written with: generally available, with
# deadLetterWithResourceIdentity, and the system topic's own (infra/modules/eventgrid.bicep).
EVENT_GRID_API=2022-06-15
# How long one subscription write may stay Creating or Updating (Event Grid validates the webhook meanwhile).
SUBSCRIPTION_WAIT_S=120
# The pool's id (infra/main.bicep, poolId), for the hint when a pool property that cannot change did.
POOL_ID=sitelens-gpu
# Role assignments take minutes to reach storage and Batch: steps that depend on them retry this long.
RBAC_WAIT_S=${SITELENS_RBAC_WAIT_S:-600}
RETRY_PAUSE_S=${SITELENS_RETRY_PAUSE_S:-15}
# The "Microsoft Azure Batch" application, the same in every tenant (its object id is not).
BATCH_APP_ID=ddbf3205-c6bd-46ae-8127-60eb93363864
# What a template deployment uses; ARM registers them itself where the deployer may register providers, but only
# the namespaces of the template's own resource types. Flex Consumption apps (Microsoft.Web) also need Microsoft.App,
# which no resource here names, so it must be registered beforehand.
PROVIDERS=(Microsoft.App Microsoft.Batch Microsoft.Consumption Microsoft.EventGrid Microsoft.Insights
  Microsoft.KeyVault Microsoft.ManagedIdentity Microsoft.OperationalInsights Microsoft.Storage Microsoft.Web)

log() { printf '%s deploy: %s\n' "$(date -u +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
  sed -n '2,21p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# retry SECONDS DESCRIPTION COMMAND...: run until it succeeds or the deadline passes (RETRY_PAUSE_S apart).
retry() {
  local seconds=$1 what=$2
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@"; do
    if ((SECONDS >= deadline)); then
      die "$what: still failing after ${seconds}s"
    fi
    log "$what: not yet, retrying in ${RETRY_PAUSE_S}s"
    sleep "$RETRY_PAUSE_S"
  done
}

# deployment_outputs NAME...: the deployment's outputs, one value a line, in the order asked. ARM does not keep
# the case of output names (STORAGE_ACCOUNT can come back as storagE_ACCOUNT), so names match whatever their
# case; an output that is missing or empty fails here rather than as an empty account name steps later.
OUTPUT_VALUES='
import json, sys
outputs = {name.upper(): (output or {}).get("value") for name, output in json.load(sys.stdin).items()}
missing = [name for name in sys.argv[1:] if not isinstance(outputs.get(name), str) or not outputs[name].strip()]
if missing:
    sys.exit("the deployment has no value for " + ", ".join(missing))
print(*(outputs[name] for name in sys.argv[1:]), sep="\n")
'

deployment_outputs() {
  az deployment group show -g "$RESOURCE_GROUP" -n "$DEPLOYMENT" --query properties.outputs -o json |
    python3 -c "$OUTPUT_VALUES" "$@"
}

# The signed-in principal's object id and kind from its own ARM access token (claims oid and idtyp),
# decoded here: no Microsoft Graph call, which CI service principals and managed identities usually may
# not make. The token goes through a pipe only, never into a variable, a file or the log.
TOKEN_CLAIMS='
import base64, json, sys
payload = sys.stdin.read().strip().split(".")[1]
claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
print(claims["oid"], {"user": "User", "app": "ServicePrincipal"}.get(claims.get("idtyp", ""), "unknown"))
'

signed_in_principal() {
  local claims id kind
  claims=$(az account get-access-token --query accessToken -o tsv | python3 -c "$TOKEN_CLAIMS") ||
    die "could not read the signed-in principal from its access token"
  read -r id kind <<<"$claims"
  if [[ $kind == unknown ]]; then
    # Tokens without idtyp: az knows whether it signed in a user or a service principal (managed
    # identities count as service principals, as role assignments need).
    if [[ $(az account show --query user.type -o tsv) == servicePrincipal ]]; then
      kind=ServicePrincipal
    else
      kind=User
    fi
  fi
  SITELENS_DEPLOYER_PRINCIPAL_ID=$id SITELENS_DEPLOYER_PRINCIPAL_TYPE=$kind
  export SITELENS_DEPLOYER_PRINCIPAL_ID SITELENS_DEPLOYER_PRINCIPAL_TYPE
}

user_subscription_mode() {
  [[ $(bicep_param "$1" poolAllocationMode 2>/dev/null) == UserSubscription ]]
}

# The soft-deleted vault this group's deployment left (teardown, or a deleted group): purge protection
# keeps its name taken for 90 days, so the deployment must recover it rather than create it. Listing
# deleted vaults needs read rights on the subscription; without them this says "none" and logs why.
deleted_vault_of_this_deployment() {
  local deleted
  if ! deleted=$(az keyvault list-deleted --resource-type vault -o json 2>/dev/null); then
    log "could not list soft-deleted key vaults (no subscription read rights?): assuming none"
    return 1
  fi
  python3 -c '
import json, sys
group, env = sys.argv[1].lower(), sys.argv[2].lower()
ours = f"/resourcegroups/{group}/providers/microsoft.keyvault/vaults/kv-{env}-"
found = [v["name"] for v in json.loads(sys.stdin.read() or "[]")
         if ours in (v.get("properties") or {}).get("vaultId", "").lower()]
print(*found)
sys.exit(0 if found else 1)
' "$RESOURCE_GROUP" "$ENVIRONMENT_NAME" <<<"$deleted"
}

# UserSubscription allocation mode: the Key Vault needs the Batch service principal's object id (looked
# up once, by someone who may read the directory: docs/deploy.md), and Batch needs a role on the
# subscription, which its owner grants once; this script has no rights for either and asks for neither.
prepare_user_subscription_mode() {
  local params=$1 vault
  SITELENS_KEY_VAULT_CREATE_MODE=default
  if user_subscription_mode "$params"; then
    [[ -n ${SITELENS_BATCH_SERVICE_PRINCIPAL_ID:-} ]] ||
      die "UserSubscription mode needs SITELENS_BATCH_SERVICE_PRINCIPAL_ID: the object id of the Microsoft Azure Batch service principal (app id $BATCH_APP_ID) in this tenant (docs/deploy.md)"
    if vault=$(deleted_vault_of_this_deployment); then
      log "key vault $vault is soft-deleted (purge protection): this deployment recovers it"
      SITELENS_KEY_VAULT_CREATE_MODE=recover
    fi
  fi
  export SITELENS_BATCH_SERVICE_PRINCIPAL_ID SITELENS_KEY_VAULT_CREATE_MODE
}

register_providers() {
  local namespace
  for namespace in "${PROVIDERS[@]}"; do
    az provider register --namespace "$namespace" --wait --output none
  done
}

# `az group create` on an existing group replaces its tags (a PUT): the group is created only when it is missing,
# so tags someone added to it (cost centre, owner ...) survive a re-deployment.
# Everything deploys into the group's region (main.bicep: resourceGroup().location), so an existing group in
# another region than LOCATION is refused, as `az group create` would: the photos would live where nobody chose.
ensure_resource_group() {
  local exists region
  exists=$(az group exists -n "$RESOURCE_GROUP" -o json) ||
    die "could not ask whether resource group $RESOURCE_GROUP exists"
  case $exists in
    false)
      log "creating resource group $RESOURCE_GROUP in $LOCATION"
      az group create -n "$RESOURCE_GROUP" -l "$LOCATION" --tags application=sitelens environment="$ENVIRONMENT" \
        --output none
      ;;
    true)
      region=$(az group show -n "$RESOURCE_GROUP" --query location -o tsv) ||
        die "could not read the region of resource group $RESOURCE_GROUP"
      [[ ${region,,} == "$(tr -d ' ' <<<"${LOCATION,,}")" ]] ||
        die "resource group $RESOURCE_GROUP is in $region, not $LOCATION: everything would deploy there"
      log "resource group $RESOURCE_GROUP exists: left as it is (its tags included)"
      ;;
    *) die "az group exists answered '$exists' for $RESOURCE_GROUP" ;;
  esac
}

# batch_account_name: this environment's Batch account (main.bicep tags every resource with its environmentName), for
# the hints; ACCOUNT if it cannot be listed. A group may hold another environment's account too.
batch_account_name() {
  local accounts account
  accounts=$(az batch account list -g "$RESOURCE_GROUP" -o json 2>/dev/null) || accounts=
  account=$(python3 -c '
import json, sys
env = sys.argv[1]
found = [a.get("name") for a in json.loads(sys.stdin.read() or "[]") if (a.get("tags") or {}).get("environment") == env]
print(found[0] if found and found[0] else "")
' "$ENVIRONMENT_NAME" <<<"$accounts" 2>/dev/null) || account=
  printf '%s' "${account:-ACCOUNT}"
}

# How to read the Batch account's quotas, for the hints and the quota check.
quota_query() {
  printf 'az batch account show -g %s -n %s --query "%s"' "$RESOURCE_GROUP" "$1" \
    '{pools: poolQuota, cores: dedicatedCoreQuota, perFamily: dedicatedCoreQuotaPerVmFamily}'
}

# deploy_templates PARAMS: the Bicep deployment, its errors shown as they come and kept to explain the ones that need
# a manual step: a pool property that cannot change on an existing pool (vmSize, the image, taskSlotsPerNode ...),
# and a quota, such as the pools quota of a new Batch account, which can be 0 so that the pool cannot be created.
deploy_templates() {
  local errors="$BUILD/deployment-errors.log"
  mkdir -p "$BUILD"
  # stdout to the terminal (fd 3), stderr through tee into the file and back to stderr; pipefail keeps az's status.
  if { az deployment group create -g "$RESOURCE_GROUP" -n "$DEPLOYMENT" --parameters "$1" --output none 2>&1 >&3 |
    tee "$errors" >&2; } 3>&1; then
    return 0
  fi
  local account
  if grep -q PropertyCannotBeUpdated "$errors"; then
    account=$(batch_account_name)
    log "a property that cannot change on an existing resource was changed. For the pool (vmSize, the image,"
    log "taskSlotsPerNode ...): delete it, wait until it is gone (its nodes drain first: minutes), then run deploy.sh again:"
    log "  az batch account login -g $RESOURCE_GROUP -n $account"
    log "  az batch pool delete --pool-id $POOL_ID --yes"
    log "  az batch pool show --pool-id $POOL_ID   # until it answers that the pool is not found"
    log "(docs/deploy.md, Updating)"
  fi
  if grep -qi quota "$errors"; then
    account=$(batch_account_name)
    log "a quota stopped the deployment. A new Batch account's quotas can be 0, its pools quota included, so that the"
    log "pool cannot be created. See them with"
    log "  $(quota_query "$account")"
    log "and ask for pools of at least 1 in the same quota request as the GPU cores (docs/deploy.md, GPU quota); once"
    log "granted, run deploy.sh again."
  fi
  die "deployment $DEPLOYMENT failed (above)"
}

# check_environment_name PARAMS NAMED: a parameter file whose environmentName (NAMED) is not ENVIRONMENT. Resource names
# come from environmentName and the resource group (main.bicep: uniqueString(resourceGroup().id, environmentName)), so
# such a file is deployed only where it already was: this group's deployment sitelens-ENV was made with NAMED (a copied
# file, deployed before this check existed, whose resources are this environment's own) and no other deployment here
# was (it would share every resource with this one). Changing the file to ENVIRONMENT there would build a second set.
check_environment_name() {
  local params=$1 named=$2 deployed made_with='' listed name value others=()
  deployed=$(az deployment group show -g "$RESOURCE_GROUP" -n "$DEPLOYMENT" \
    --query properties.parameters.environmentName.value -o tsv 2>/dev/null) || deployed=
  [[ -z $deployed ]] || made_with=" (it was made with '$deployed')"
  [[ $deployed == "$named" ]] ||
    die "$params sets environmentName = '$named', not '$ENVIRONMENT', and resource group $RESOURCE_GROUP has no deployment $DEPLOYMENT made with '$named'$made_with: for a new environment, set environmentName to '$ENVIRONMENT'"
  listed=$(az deployment group list -g "$RESOURCE_GROUP" \
    --query "[].[name, properties.parameters.environmentName.value]" -o tsv) ||
    die "could not list the deployments of resource group $RESOURCE_GROUP to check environmentName '$named'"
  while IFS=$'\t' read -r name value; do
    if [[ $value == "$named" && $name != "$DEPLOYMENT" ]]; then
      others+=("$name")
    fi
  done <<<"$listed"
  ((${#others[@]} == 0)) ||
    die "$params sets environmentName = '$named', not '$ENVIRONMENT', and resource group $RESOURCE_GROUP also holds deployment ${others[*]} made with '$named': the two share every resource, so deploying $ENVIRONMENT would change the other's. Deploy each environment into its own resource group"
  log "warning: $params sets environmentName = '$named', not '$ENVIRONMENT'. Deployment $DEPLOYMENT in $RESOURCE_GROUP was made with '$named' and no other deployment there was, so its resources (named after '$named' and this group) are $ENVIRONMENT's own: they are updated. Keep '$named' here: changing it would build a second set of every resource in $RESOURCE_GROUP"
}

provision() {
  local params="$REPO/infra/main.$ENVIRONMENT.bicepparam" named
  [[ -f $params ]] || die "no parameter file $params"
  # Resource names come from the file's environmentName, not from its file name: a copied file still naming
  # another environment would deploy over that environment's resources (check_environment_name).
  named=$(bicep_param "$params" environmentName) ||
    die "$params does not set environmentName to a literal value: set it to '$ENVIRONMENT'"
  [[ $named == "$ENVIRONMENT" ]] || check_environment_name "$params" "$named"
  ENVIRONMENT_NAME=$named
  if [[ ${SITELENS_REGISTER_PROVIDERS:-0} == 1 ]]; then
    log "registering the resource providers (needs subscription-level rights)"
    register_providers
  fi
  ensure_resource_group
  signed_in_principal
  prepare_user_subscription_mode "$params"
  log "deploying infra/main.bicep as $DEPLOYMENT (several minutes)"
  deploy_templates "$params"
  local values
  values=$(deployment_outputs STORAGE_ACCOUNT NODE_PACKAGE_CONTAINER MODELS_CONTAINER FUNCTION_APP_NAME \
    FUNCTION_APP_HOSTNAME EVENT_GRID_TOPIC EVENT_GRID_DEAD_LETTER_CONTAINER_ID) ||
    die "could not read the outputs of deployment $DEPLOYMENT"
  {
    read -r STORAGE_ACCOUNT
    read -r NODE_PACKAGE_CONTAINER
    read -r MODELS_CONTAINER
    read -r FUNCTION_APP_NAME
    read -r FUNCTION_APP_HOSTNAME
    read -r EVENT_GRID_TOPIC
    read -r EVENT_GRID_DEAD_LETTER_CONTAINER_ID
  } <<<"$values"
}

# bicep_param PARAMS NAME: NAME's value in the parameter file where it sets NAME, else its default in main.bicep, if
# that is a literal (a string, a whole number, true or false); fails otherwise (an expression, say). Read as Bicep reads
# it: CRLF line ends, any white space around `=` and a trailing `//` comment (outside the quotes) are allowed.
# shellcheck disable=SC2016 # Python: ${ is what it looks for, not an expansion
BICEP_LITERAL='
import re, sys
name, paths = sys.argv[1], sys.argv[2:]
setting = re.compile(r"\s*param\s+" + re.escape(name) + r"(?:\s+[A-Za-z]+)?\s*=\s*(.*)")
literal = re.compile(r"(?:\x27([^\x27\\]+)\x27|(-?[0-9]+|true|false))\s*(?://.*)?")
for path in paths:
    try:
        text = open(path, encoding="utf-8-sig").read()
        # A block comment is no setting: blanked, its line breaks kept.
        lines = re.sub(r"/\*.*?\*/", lambda c: "\n" * c.group().count("\n"), text, flags=re.S).splitlines()
    except FileNotFoundError:
        continue
    for line in lines:
        found = setting.fullmatch(line)
        if found:
            value = literal.fullmatch(found.group(1))
            # An interpolated string (${...}) is an expression too.
            if not value or "${" in (value.group(1) or ""):
                sys.exit(1)
            print(value.group(1) if value.group(2) is None else value.group(2))
            sys.exit(0)
sys.exit(1)
'

bicep_param() {
  python3 -c "$BICEP_LITERAL" "$2" "$1" "$REPO/infra/main.bicep"
}

# check_gpu_quota PARAMS: after the pool is provisioned, warn (and never fail) when the Batch account's core quota
# cannot start one node of the pool's VM size, as a new account's often cannot (0 N-series cores): the deployment
# succeeds, the pool stays at 0 nodes and every photo waits until it times out. Management-plane reads only, which
# the deployer may do; whatever cannot be read is logged and the check skipped.
check_gpu_quota() {
  local params=$1 size max_nodes account skus quotas verdict line
  if user_subscription_mode "$params"; then
    log "quota: UserSubscription mode uses the subscription's vCPU quotas, not checked here:"
    log "  az vm list-usage --location $LOCATION   # docs/deploy.md, GPU quota"
    return 0
  fi
  if ! size=$(bicep_param "$params" vmSize) || ! max_nodes=$(bicep_param "$params" maxNodes) ||
    ! account=$(deployment_outputs BATCH_ACCOUNT 2>/dev/null); then
    log "quota check skipped: the pool's vmSize and maxNodes or the Batch account's name could not be read"
    return 0
  fi
  # The whole list: Batch takes vmSize in any case, and a JMESPath filter compares case and all.
  if ! skus=$(az batch location list-skus -l "$LOCATION" -o json 2>/dev/null); then
    log "quota check skipped: az batch location list-skus -l $LOCATION failed. The quotas: $(quota_query "$account")"
    return 0
  fi
  local query='{pools: poolQuota, cores: dedicatedCoreQuota, perFamily: dedicatedCoreQuotaPerVmFamily,
    enforced: dedicatedCoreQuotaPerVmFamilyEnforced}'
  if ! quotas=$(az batch account show -g "$RESOURCE_GROUP" -n "$account" --query "$query" -o json 2>/dev/null); then
    log "quota check skipped: could not read Batch account $account; see its quotas with $(quota_query "$account")"
    return 0
  fi
  # The size list on stdin: a region's whole list is larger than one argument may be (128 KiB on Linux).
  if ! verdict=$(python3 "$REPO/infra/gpu_quota.py" "$size" "$max_nodes" "$account" "$(quota_query "$account")" \
    "$quotas" <<<"$skus" 2>/dev/null); then
    log "quota check skipped: unexpected answers from az; see the quotas with $(quota_query "$account")"
    return 0
  fi
  while IFS= read -r line; do
    log "$line"
  done <<<"$verdict"
}

upload() {
  az storage blob upload --auth-mode login --account-name "$STORAGE_ACCOUNT" --container-name "$1" \
    --name "$2" --file "$3" --content-type "$4" --overwrite --only-show-errors --output none
}

publish_node_package() {
  mkdir -p "$BUILD"
  "$PYTHON" "$REPO/infra/package.py" node "$BUILD/batch_tasks.zip" >/dev/null
  log "uploading the node package to $NODE_PACKAGE_CONTAINER/"
  retry "$RBAC_WAIT_S" "upload start-task.sh" \
    upload "$NODE_PACKAGE_CONTAINER" start-task.sh "$REPO/infra/node/start-task.sh" text/x-shellscript
  upload "$NODE_PACKAGE_CONTAINER" requirements.txt "$REPO/batch_tasks/requirements.txt" text/plain
  upload "$NODE_PACKAGE_CONTAINER" batch_tasks.zip "$BUILD/batch_tasks.zip" application/zip
}

# published_manifest BLOB FILE: the version's stored manifest BLOB (models container) downloaded to FILE; FILE is
# left absent when the version is not published yet. Fails, to be retried, while storage cannot be read.
published_manifest() {
  local exists
  rm -f "$2"
  exists=$(az storage blob exists --auth-mode login --account-name "$STORAGE_ACCOUNT" --container-name \
    "$MODELS_CONTAINER" --name "$1" --query exists --output tsv --only-show-errors) || return 1
  [[ $exists == true ]] || return 0
  az storage blob download --auth-mode login --account-name "$STORAGE_ACCOUNT" --container-name "$MODELS_CONTAINER" \
    --name "$1" --file "$2" --only-show-errors --output none
}

# A version is published once (docs/models.md): the stored manifest is compared with the folder's by
# `sitelens.model_storage.same_manifest`, the rule `sitelens models publish` applies. Exit 0 the same, 3 not.
SAME_MANIFEST='
import sys
from pathlib import Path
from sitelens.model_storage import same_manifest
sys.exit(0 if same_manifest(Path(sys.argv[1]).read_bytes(), Path(sys.argv[2]).read_bytes()) else 3)
'

# plan_model: MODEL_UPLOADS, what publishing the model folder uploads (path, blob, content type a line, verified
# files, the manifest last, as `sitelens models publish` plans them), and MODEL_MANIFEST, the manifest's blob.
# The plan is read whole: a model that does not verify stops the deployment here, before anything in Azure
# changes, where a loop over a process substitution would ignore the planner's exit status.
plan_model() {
  [[ -f "$MODEL_DIR/manifest.json" ]] || die "no model at $MODEL_DIR: run 'make setup' first"
  MODEL_UPLOADS=$("$PYTHON" -c '
import sys
from pathlib import Path
from batch_tasks.models.publish import plan
for item in plan(Path(sys.argv[1])):
    print(item.path, item.blob, item.content_type, sep="\t")
' "$MODEL_DIR") || die "the model at $MODEL_DIR does not verify: nothing was uploaded"
  MODEL_MANIFEST=$(tail -n 1 <<<"$MODEL_UPLOADS" | cut -f 2) # the plan's last upload
  MODEL_PUBLISHED=0
}

# compare_published_manifest FILE: FILE (the version's stored manifest) against the folder's. The same sets
# MODEL_PUBLISHED=1; a different one stops the deployment (version_published).
compare_published_manifest() {
  local same=0
  "$PYTHON" -c "$SAME_MANIFEST" "$1" "$MODEL_DIR/manifest.json" || same=$?
  case $same in
    0) MODEL_PUBLISHED=1 ;;
    3) die "${MODEL_MANIFEST%/manifest.json} is already published with a different manifest (version_published): publish the change as a new version and make it the default; the node package and the model were not uploaded" ;;
    *) die "could not compare $MODEL_DIR/manifest.json with the published $MODEL_MANIFEST: the node package and the model were not uploaded" ;;
  esac
}

# check_model_version: a version is published once, so a deployment whose model differs from the stored version
# cannot finish. It stops here, before the node package is uploaded: nodes must not get a package whose app
# code and model never follow. Retried while the deployer's new role assignment has not reached storage.
check_model_version() {
  local stored="$BUILD/published-manifest.json"
  mkdir -p "$BUILD"
  retry "$RBAC_WAIT_S" "read $MODEL_MANIFEST" published_manifest "$MODEL_MANIFEST" "$stored"
  if [[ -f $stored ]]; then
    compare_published_manifest "$stored"
  fi
}

# check_model_version_before_provisioning: on an update, the same check against the storage account the existing
# deployment names, before the resource group and the templates change. A first deployment has none.
check_model_version_before_provisioning() {
  local STORAGE_ACCOUNT MODELS_CONTAINER values
  values=$(deployment_outputs STORAGE_ACCOUNT MODELS_CONTAINER 2>/dev/null) || return 0
  {
    read -r STORAGE_ACCOUNT
    read -r MODELS_CONTAINER
  } <<<"$values"
  check_model_version_once
}

# check_model_version_once: check_model_version without retries, for before provisioning: storage that cannot be
# read yet (a deployer whose role the templates assign) leaves the check to check_model_version.
check_model_version_once() {
  local stored="$BUILD/published-manifest.json"
  mkdir -p "$BUILD"
  if ! published_manifest "$MODEL_MANIFEST" "$stored" 2>/dev/null; then
    log "could not read $MODELS_CONTAINER/$MODEL_MANIFEST before provisioning: it is checked after"
    return 0
  fi
  if [[ -f $stored ]]; then
    compare_published_manifest "$stored"
  fi
}

publish_model() {
  if ((MODEL_PUBLISHED)); then
    log "${MODEL_MANIFEST%/manifest.json} is already published with this manifest: nothing to upload"
    return 0
  fi
  log "publishing $MODEL_DIR to $MODELS_CONTAINER/ (manifest last)"
  local path blob type
  while IFS=$'\t' read -r path blob type; do
    # </dev/null: az must not read the remaining plan lines from this loop's input.
    retry "$RBAC_WAIT_S" "upload $blob" upload "$MODELS_CONTAINER" "$blob" "$path" "$type" </dev/null
  done <<<"$MODEL_UPLOADS"
}

deploy_code() {
  "$PYTHON" "$REPO/infra/package.py" app "$BUILD/app.zip" >/dev/null
  log "deploying the Functions app code to $FUNCTION_APP_NAME (remote build)"
  # The app reads its package with its own identity, whose role on the container was assigned minutes ago.
  retry "$RBAC_WAIT_S" "code deployment" az functionapp deployment source config-zip -g "$RESOURCE_GROUP" \
    -n "$FUNCTION_APP_NAME" --src "$BUILD/app.zip" --build-remote true --output none
}

blobs_extension_key() {
  local key
  key=$(az functionapp keys list -g "$RESOURCE_GROUP" -n "$FUNCTION_APP_NAME" \
    --query systemKeys.blobs_extension -o tsv 2>/dev/null || true)
  [[ -n $key ]] && printf '%s' "$key"
}

# The subscription's body (Microsoft.EventGrid/systemTopics/eventSubscriptions): BlobCreated under photos/ to the blob
# extension's webhook, whose key comes on stdin (never an argument, which any process may read); 30 attempts within
# 24 hours, then the dead-letter container, written with the topic's own identity (its role comes from the
# templates). Event Grid takes the container as its account's id and its name, as `az eventgrid` splits them.
SUBSCRIPTION_BODY='
import json, re, sys
endpoint, container_id = sys.argv[1:]
key = sys.stdin.read().strip()
parts = re.split("/blobServices/default/containers/", container_id, flags=re.IGNORECASE)
if not key or len(parts) != 2 or not all(parts):
    sys.exit("no webhook key, or the dead-letter container id is not .../blobServices/default/containers/NAME")
account_id, container = parts
json.dump({"properties": {
    "destination": {"endpointType": "WebHook", "properties": {"endpointUrl": f"{endpoint}&code={key}"}},
    "filter": {"includedEventTypes": ["Microsoft.Storage.BlobCreated"],
               "subjectBeginsWith": "/blobServices/default/containers/photos/", "isSubjectCaseSensitive": False},
    "eventDeliverySchema": "EventGridSchema",
    "retryPolicy": {"maxDeliveryAttempts": 30, "eventTimeToLiveInMinutes": 1440},
    "deadLetterWithResourceIdentity": {
        "identity": {"type": "SystemAssigned"},
        "deadLetterDestination": {"endpointType": "StorageBlob",
                                  "properties": {"resourceId": account_id, "blobContainerName": container}},
    },
}}, sys.stdout)
'

# Why Event Grid failed the subscription: the newest failed write of it in the activity log (on stdin, as `az monitor
# activity-log list` prints it), its error messages one a line. Every URL loses its query and any code= its value: the
# webhook's URL carries the key.
FAILURE_REASON='
import json, re, sys
failed = [e for e in json.loads(sys.stdin.read() or "[]")
          if ((e.get("status") or {}).get("value") or "").lower() == "failed"
          and ((e.get("operationName") or {}).get("value") or "").lower().endswith("/eventsubscriptions/write")
          and (e.get("properties") or {}).get("statusMessage")]
if not failed:
    sys.exit(1)
status = max(failed, key=lambda e: e.get("eventTimestamp") or "")["properties"]["statusMessage"]
def messages(node):
    if isinstance(node, dict):
        if isinstance(node.get("message"), str):
            yield node["message"]
        for key, value in node.items():
            if key != "message":
                yield from messages(value)
    elif isinstance(node, list):
        for value in node:
            yield from messages(value)
try:
    found = list(dict.fromkeys(messages(json.loads(status)))) or [status]
except ValueError:
    found = [status]
for text in found:
    text = re.sub(r"(https?://[^\s?\"]*)\?[^\s\"]*", r"\1?...", " ".join(text.split()))
    print(re.sub(r"(?i)(code=)[^&\s\"]+", r"\1...", text))
'

# subscription_failure ID SINCE: log the reason for the subscription's Failed state. `az rest` returns as soon as Event
# Grid accepts the PUT, before it validates the webhook, so the operation's error never reaches it; the activity log
# records it (Failed writes since SINCE, when this step began), though maybe not yet when the state is read.
subscription_failure() {
  local id=$1 since=$2 events reason line
  if events=$(az monitor activity-log list --resource-id "$id" --status Failed --start-time "$since" -o json \
    2>/dev/null) && reason=$(python3 -c "$FAILURE_REASON" <<<"$events"); then
    while IFS= read -r line; do
      log "event subscription: Failed: $line"
    done <<<"$reason"
  else
    log "event subscription: Failed; the activity log shows no reason yet (or could not be read): az monitor activity-log list --resource-id $id --status Failed --start-time $since"
  fi
}

# put_subscription ID FILE SINCE: create or update the subscription, then wait for Event Grid's verdict: it validates
# the webhook (the blob extension answers the handshake) before the subscription is Succeeded; a failed one is logged
# with its reason and retried.
put_subscription() {
  local id=$1 file=$2 since=$3 state deadline=$((SECONDS + SUBSCRIPTION_WAIT_S))
  local url="$id?api-version=$EVENT_GRID_API"
  az rest --method put --url "$url" --body "@$file" --output none || return 1
  while :; do
    state=$(az rest --method get --url "$url" --query properties.provisioningState -o tsv) || return 1
    case $state in
      Succeeded) return 0 ;;
      Creating | Updating) ((SECONDS < deadline)) || { log "event subscription: still $state"; return 1; } ;;
      Failed) subscription_failure "$id" "$since"; return 1 ;;
      *) log "event subscription: ${state:-no provisioning state}"; return 1 ;;
    esac
    sleep "$RETRY_PAUSE_S"
  done
}

# `az eventgrid system-topic event-subscription create` has no dead-letter identity options (only `az eventgrid
# event-subscription create` does), and `az resource create` sends a location, which the subscription's type does not
# have: the subscription is written with `az rest`, which sends a path that starts with /subscriptions to the
# signed-in cloud's Resource Manager.
subscribe_photos() {
  log "waiting for the blob extension's webhook key"
  retry 600 "blobs_extension key" blobs_extension_key >/dev/null
  local topic_id since
  topic_id=$(az eventgrid system-topic show -g "$RESOURCE_GROUP" -n "$EVENT_GRID_TOPIC" --query id -o tsv) &&
    [[ $topic_id == /subscriptions/* ]] || die "could not read the id of Event Grid system topic $EVENT_GRID_TOPIC"
  # The body holds the key: a file only this user may read, removed however the script ends.
  SUBSCRIPTION_FILE=$(umask 077 && mktemp "${TMPDIR:-/tmp}/sitelens-subscription.XXXXXX")
  trap 'rm -f "$SUBSCRIPTION_FILE"' EXIT
  blobs_extension_key | python3 -c "$SUBSCRIPTION_BODY" \
    "https://$FUNCTION_APP_HOSTNAME/runtime/webhooks/blobs?functionName=Host.Functions.$BLOB_FUNCTION" \
    "$EVENT_GRID_DEAD_LETTER_CONTAINER_ID" >"$SUBSCRIPTION_FILE" || die "could not write the event subscription's body"
  log "creating Event Grid subscription $SUBSCRIPTION_NAME (BlobCreated under photos/)"
  since=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  retry 300 "event subscription" put_subscription "$topic_id/eventSubscriptions/$SUBSCRIPTION_NAME" \
    "$SUBSCRIPTION_FILE" "$since"
  rm -f "$SUBSCRIPTION_FILE"
}

healthy() {
  local body
  body=$(curl -fsS --max-time 30 "https://$FUNCTION_APP_HOSTNAME/api/health") || return 1
  log "health: $body"
}

smoke_check() {
  log "smoke check: GET https://$FUNCTION_APP_HOSTNAME/api/health"
  retry "$RBAC_WAIT_S" "health check" healthy
}

require_env() {
  local name
  for name in "$@"; do
    [[ -n ${!name:-} ]] || die "$name is not set (azd sets it from the deployment's outputs)"
  done
}

# build_dir KIND NAME: BUILD for one environment, deploy.sh's (sh) and azd's (azd) apart, created.
build_dir() {
  [[ $2 =~ ^[A-Za-z0-9-]+$ ]] ||
    die "environment name '$2' is not letters, digits and hyphens (azd sets AZURE_ENV_NAME)"
  BUILD="$REPO/.local/deploy/$1/$2"
  mkdir -p "$BUILD"
}

main() {
  case "${1:-}" in
    azd-preprovision)
      # main.parameters.json reads AZURE_PRINCIPAL_TYPE; azd sets only AZURE_PRINCIPAL_ID itself.
      command -v azd >/dev/null || die "azd is not installed"
      signed_in_principal
      azd env set AZURE_PRINCIPAL_TYPE "$SITELENS_DEPLOYER_PRINCIPAL_TYPE"
      # An update: azd's environment holds the previous provisioning's outputs.
      if [[ -n ${STORAGE_ACCOUNT:-} && -n ${MODELS_CONTAINER:-} ]]; then
        build_dir azd "${AZURE_ENV_NAME:-}"
        plan_model
        check_model_version_once
      fi
      ;;
    azd-postprovision)
      require_env STORAGE_ACCOUNT NODE_PACKAGE_CONTAINER MODELS_CONTAINER
      build_dir azd "${AZURE_ENV_NAME:-}"
      plan_model
      check_model_version
      publish_node_package
      publish_model
      ;;
    azd-postdeploy)
      require_env RESOURCE_GROUP FUNCTION_APP_NAME FUNCTION_APP_HOSTNAME EVENT_GRID_TOPIC \
        EVENT_GRID_DEAD_LETTER_CONTAINER_ID
      subscribe_photos
      smoke_check
      ;;
    -h | --help | "") usage ;;
    *)
      (($# == 3)) || usage
      ENVIRONMENT=$1 RESOURCE_GROUP=$2 LOCATION=$3
      DEPLOYMENT="sitelens-$ENVIRONMENT"
      build_dir sh "$ENVIRONMENT"
      command -v az >/dev/null || die "az (Azure CLI) is not installed"
      az account show --output none 2>/dev/null || die "not logged in: run 'az login'"
      # The model is checked (verified, and against the version stored) before anything changes: a run that
      # could not publish it would leave a new node package and settings without the app code that goes with them.
      plan_model
      check_model_version_before_provisioning
      provision
      check_gpu_quota "$REPO/infra/main.$ENVIRONMENT.bicepparam"
      check_model_version
      publish_node_package
      publish_model
      deploy_code
      subscribe_photos
      smoke_check
      log "done: https://$FUNCTION_APP_HOSTNAME (outputs: az deployment group show -g $RESOURCE_GROUP -n $DEPLOYMENT)"
      ;;
  esac
}

main "$@"
