#!/usr/bin/env bash
# Delete a sitelens deployment: the whole resource group, with every photo, result and job record in it.
#
#   infra/teardown.sh RG [--yes]
#
# Without --yes it asks first. Then it removes what would stop the group's deletion or outlive it: the storage
# account's delete lock (storageDeleteLock) and the pool kick's custom role, whose definition Azure keeps outside
# the group. Soft-deleted blobs go with the account. In UserSubscription mode the Key Vault stays soft-deleted
# (purge protection) for 90 days and keeps its name; the Batch service principal's subscription role is left in
# place, since other Batch accounts may rely on it. docs/deploy.md, "Removing it", says what is lost.
set -euo pipefail

# The storage account's lock (infra/modules/storage.bicep) and the custom role's name up to its account
# (infra/modules/roles.bicep: 'sitelens pool autoscale kick (ACCOUNT)').
LOCK_NAME=sitelens-storage-cannot-delete
KICK_ROLE='sitelens pool autoscale kick'

log() { printf '%s teardown: %s\n' "$(date -u +%T)" "$*" >&2; }

usage() {
  sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# A lock anywhere in the group makes its deletion fail (ScopeLocked). Only the templates' lock is removed: one
# that someone else placed stops the teardown, as it was meant to, and before anything is removed (else the
# running deployment would be left without its own lock and its role).
refuse_other_locks() {
  local group=$1 others
  others=$(az lock list -g "$group" --query "[?name!='$LOCK_NAME'].id" -o tsv) ||
    { log "could not list the locks in $group: nothing deleted"; exit 1; }
  if [[ -n $others ]]; then
    log "$group holds locks the templates did not place; remove them first (az lock delete --ids ...):"
    log "$others"
    log "nothing deleted"
    exit 1
  fi
}

remove_storage_lock() {
  local group=$1 ids
  ids=$(az lock list -g "$group" --query "[?name=='$LOCK_NAME'].id" -o tsv) ||
    { log "could not list the locks in $group: nothing deleted"; exit 1; }
  [[ -n $ids ]] || return 0
  log "removing the storage account's delete lock $LOCK_NAME"
  # shellcheck disable=SC2086 # one lock id a word
  az lock delete --ids $ids --output none || { log "could not remove lock $LOCK_NAME: nothing deleted"; exit 1; }
}

# The kick's role definition is a subscription-level object that deleting the group leaves behind. az finds it only
# at the group's scope (roles are listed at a scope and above, and this one is assignable in the group alone), so it
# goes before the group. `az role definition delete` exits 0 when it matches nothing, so the definition is looked up
# first: the log then tells a deleted role from one that was not there, and it is deleted by its id. Azure refuses
# to delete a role that is still assigned, so the app's assignment on the Batch account goes first (it may be gone
# already). A refusal (rights, a new assignment) is reported with the role's id and the teardown goes on: a stale
# definition grants nothing, and a re-deployment of the same group and environment updates it in place.
remove_kick_roles() {
  local group=$1 accounts name id role role_ids role_id
  if ! accounts=$(az batch account list -g "$group" --query "[].[name, id]" -o tsv); then
    log "could not list the Batch accounts in $group: the pool kick's custom role, if any, is left behind"
    return 0
  fi
  while read -r name id; do
    [[ -n $name ]] || continue
    role="$KICK_ROLE ($name)"
    if ! role_ids=$(az role definition list --name "$role" --resource-group "$group" --query "[].id" -o tsv); then
      log "could not look up the custom role '$role' (above): if it exists it stays behind (docs/deploy.md, Removing it)"
      continue
    fi
    if [[ -z $role_ids ]]; then
      log "no custom role '$role' in $group: nothing to delete"
      continue
    fi
    az role assignment delete --role "$role" --scope "$id" --output none 2>/dev/null || true
    while read -r role_id; do
      if az role definition delete --name "${role_id##*/}" --resource-group "$group" --output none; then
        log "deleted the custom role '$role' ($role_id)"
      else
        log "could not delete the custom role '$role' (above): it stays behind as $role_id (docs/deploy.md, Removing it)"
      fi
    done <<<"$role_ids"
  done <<<"$accounts"
}

main() {
  if (($# < 1 || $# > 2)) || [[ ${2:---yes} != --yes ]]; then
    usage
  fi
  local group=$1 confirm=${2:-}
  command -v az >/dev/null || { log "az (Azure CLI) is not installed"; exit 1; }
  if [[ $(az group exists -n "$group") != true ]]; then
    log "resource group $group does not exist: nothing to do"
    return 0
  fi
  if [[ $confirm != --yes ]]; then
    local answer
    read -r -p "Delete resource group $group and all its data? Type the group's name to confirm: " answer
    [[ $answer == "$group" ]] || { log "not confirmed: nothing deleted"; exit 1; }
  fi
  refuse_other_locks "$group"
  remove_storage_lock "$group"
  remove_kick_roles "$group"
  log "deleting $group (several minutes; Batch pools drain first)"
  az group delete -n "$group" --yes
  log "deleted $group"
}

main "$@"
