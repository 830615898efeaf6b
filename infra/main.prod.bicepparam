// Production: zone-redundant storage, longer retention, alerts to an action group.
using './main.bicep'

param environmentName = 'prod'
param storageSku = 'Standard_ZRS'
param maximumInstanceCount = 100
param instanceMemoryMB = 2048
// Off: a zone-redundant Functions plan keeps at least two always-ready instances of each per-function scaling
// group running and billed around the clock (16 here), and only some regions offer it. Set it to true for an app
// that runs through a zone outage (docs/deploy.md, "What is lost when").
param zoneRedundant = false
param vmSize = 'Standard_NC4as_T4_v3'
param taskSlotsPerNode = 4
// Autoscale (docs/autoscale.md): a node kept through the sites' working hours serves the first photo at
// once; `sitelens plan` and `sitelens autoscale simulate --param minNodesAtWork=1` show what it costs.
param maxNodes = 4
param pendingPerNode = 100
param holdMinutes = 5
param minNodesAtWork = 0
param workStartHour = 7
param workEndHour = 18
param utcOffsetHours = 0
// BatchService: no Spot nodes (see docs/deploy.md before switching to UserSubscription).
param poolAllocationMode = 'BatchService'
param originalsRetentionDays = 30
param quarantineRetentionDays = 30
param derivedRetentionDays = 7
param resultsRetentionDays = 90
param recordsRetentionDays = 365
param softDeleteDays = 14
param logRetentionDays = 90
// A CanNotDelete lock on the storage account: a deleted account can be recovered within 14 days only while no
// account of its name exists again, and a re-deployment would create one (docs/deploy.md, "Removing it").
param storageDeleteLock = true
param stuckPoolMinutes = 30
param jobFailurePercent = 5
// The action group the alerts notify: set SITELENS_ACTION_GROUP_ID to its resource id before deploying.
param actionGroupId = readEnvironmentVariable('SITELENS_ACTION_GROUP_ID', '')
// Cost guard (docs/deploy.md, "Cost guard"): the idle-GPU alert fires when more than minNodesAtWork nodes stay
// idle this many hours.
param idleNodeHours = 6
// A monthly budget on the resource group, notifying the action group at 80 % and 100 % of the month's actual
// cost and at 100 % of its forecast. Off until set: the amount is yours (in the billing currency), and the start
// date is the first day of the month you first deploy it, kept afterwards (Azure refuses to change it). Both:
// param monthlyBudget = 2000
// param budgetStartDate = '2027-01-01'
// Settings the templates do not set, merged last (a portal change is reset by the next deployment; docs/configuration.md):
// param extraAppSettings = {
//   SITELENS_TASK_ENV: '{"SITELENS_TASK_TIMEOUT_S": "500"}'
//   OTEL_TRACES_SAMPLER: 'parentbased_traceidratio'
//   OTEL_TRACES_SAMPLER_ARG: '0.1'
// }
// param nodeSettings = {
//   SITELENS_PROVIDER: 'cuda'
//   SITELENS_MAX_BATCH: '16'
//   OTEL_TRACES_SAMPLER: 'parentbased_traceidratio'
//   OTEL_TRACES_SAMPLER_ARG: '0.1'
// }

param deployerPrincipalId = readEnvironmentVariable('SITELENS_DEPLOYER_PRINCIPAL_ID', '')
param deployerPrincipalType = readEnvironmentVariable('SITELENS_DEPLOYER_PRINCIPAL_TYPE', 'User')
param batchServicePrincipalId = readEnvironmentVariable('SITELENS_BATCH_SERVICE_PRINCIPAL_ID', '')
param keyVaultCreateMode = readEnvironmentVariable('SITELENS_KEY_VAULT_CREATE_MODE', 'default')
