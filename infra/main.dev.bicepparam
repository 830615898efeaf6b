// Development: small and cheap. infra/deploy.sh dev RG LOCATION deploys with this file.
using './main.bicep'

param environmentName = 'dev'
param storageSku = 'Standard_LRS'
// Flex Consumption's lowest maximum instance count (most regions).
param maximumInstanceCount = 40
param instanceMemoryMB = 2048
// One zone: a zone-redundant plan keeps always-ready instances running (docs/deploy.md, "What is lost when").
param zoneRedundant = false
param vmSize = 'Standard_NC4as_T4_v3'
param taskSlotsPerNode = 4
// Autoscale: the formula's defaults, spelled out so a change here is one line (docs/autoscale.md).
param maxNodes = 4
param pendingPerNode = 100
param holdMinutes = 5
param minNodesAtWork = 0
param poolAllocationMode = 'BatchService'
param originalsRetentionDays = 7
param quarantineRetentionDays = 7
param derivedRetentionDays = 2
param resultsRetentionDays = 14
param recordsRetentionDays = 30
param logRetentionDays = 30
// No delete lock on the storage account here: a dev environment is torn down and rebuilt freely.
param storageDeleteLock = false
param stuckPoolMinutes = 30
param actionGroupId = ''
// Cost guard (docs/deploy.md): the idle-GPU alert; no budget (it would need an action group).
param idleNodeHours = 6
param monthlyBudget = 0
// Settings the templates do not set, merged last (a portal change is reset by the next deployment; docs/configuration.md):
// param extraAppSettings = {
//   OTEL_TRACES_SAMPLER: 'parentbased_traceidratio'
//   OTEL_TRACES_SAMPLER_ARG: '0.1'
// }
// param nodeSettings = {
//   SITELENS_PROVIDER: 'cuda'
//   SITELENS_MAX_BATCH: '16'
// }

// Set by deploy.sh (the signed-in user or service principal, allowed to upload packages and models).
param deployerPrincipalId = readEnvironmentVariable('SITELENS_DEPLOYER_PRINCIPAL_ID', '')
param deployerPrincipalType = readEnvironmentVariable('SITELENS_DEPLOYER_PRINCIPAL_TYPE', 'User')
param batchServicePrincipalId = readEnvironmentVariable('SITELENS_BATCH_SERVICE_PRINCIPAL_ID', '')
param keyVaultCreateMode = readEnvironmentVariable('SITELENS_KEY_VAULT_CREATE_MODE', 'default')
