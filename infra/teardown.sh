#!/usr/bin/env bash
# Delete a sitelens deployment: the whole resource group, with every photo, result and job record in it.
#
#   infra/teardown.sh RG [--yes]
#
# Without --yes it asks first. Soft-deleted blobs go with the account. In UserSubscription mode the Key
# Vault stays soft-deleted (purge protection) for 90 days and keeps its name; the Batch service
# principal's subscription role is left in place, since other Batch accounts may rely on it.
set -euo pipefail

log() { printf '%s teardown: %s\n' "$(date -u +%T)" "$*" >&2; }

main() {
  if (($# < 1 || $# > 2)) || [[ ${2:---yes} != --yes ]]; then
    sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
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
  log "deleting $group (several minutes; Batch pools drain first)"
  az group delete -n "$group" --yes
  log "deleted $group"
}

main "$@"
