// The Batch account and its GPU pool. The pool follows pending tasks with infra/autoscale.formula (the
// same file the local Batch service runs and the tests evaluate), down to zero nodes when idle.

param location string
param batchAccountName string
param tags object

@description('BatchService: Batch owns the VMs and the account has its own core quotas (no Spot). UserSubscription: VMs live in this subscription under its vCPU quotas, Spot becomes possible, and a Key Vault plus a subscription role for the Batch service are required (see docs/deploy.md).')
@allowed(['BatchService', 'UserSubscription'])
param poolAllocationMode string

@description('Key Vault that UserSubscription mode requires (its resource id); empty in BatchService mode.')
param keyVaultId string

@description('That Key Vault\'s URI; empty in BatchService mode.')
param keyVaultUri string

param poolId string

@description('GPU VM size of the pool nodes.')
param vmSize string

@description('Tasks one node runs at once; the node server batches their photos on one GPU.')
@minValue(1)
@maxValue(256)
param taskSlotsPerNode int

// The autoscale formula's knobs (docs/autoscale.md, "The tuned formula"): each replaces its `name = default;`
// line in infra/autoscale.formula, as autoscale/knobs.py does for the local stack and the simulator.
@description('The most nodes the pool may have (the GPU core quota must allow it).')
@minValue(1)
@maxValue(1000)
param maxNodes int

@description('Pending tasks that justify one more node.')
@minValue(1)
param pendingPerNode int

@description('Minutes the nodes are kept after the last pending task.')
@minValue(1)
@maxValue(60)
param holdMinutes int

@description('Nodes kept through working hours (Monday to Friday) in the sites\' time zone; 0 scales to zero then too.')
@minValue(0)
param minNodesAtWork int

@description('Working hours in the sites\' time zone: from this hour (0-23) ...')
@minValue(0)
@maxValue(23)
param workStartHour int

@description('... to this hour (1-24).')
@minValue(1)
@maxValue(24)
param workEndHour int

@description('The sites\' time zone as hours from UTC (no daylight saving: the formula sees UTC).')
@minValue(-12)
@maxValue(14)
param utcOffsetHours int

var formulaFile = loadTextContent('../autoscale.formula')
// One replace per knob, nested in one expression: checkov resolves a chain of variables only in some runs
// (its order depends on the hash seed), so CKV_SITELENS_7 could not see the file. A test checks each
// default against the formula file.
var autoscaleFormula = replace(replace(replace(replace(replace(replace(replace(formulaFile, 'maxNodes = 4;', 'maxNodes = ${maxNodes};'), 'pendingPerNode = 100;', 'pendingPerNode = ${pendingPerNode};'), 'holdMinutes = 5;', 'holdMinutes = ${holdMinutes};'), 'minNodesAtWork = 0;', 'minNodesAtWork = ${minNodesAtWork};'), 'workStartHour = 7;', 'workStartHour = ${workStartHour};'), 'workEndHour = 18;', 'workEndHour = ${workEndHour};'), 'utcOffsetHours = 0;', 'utcOffsetHours = ${utcOffsetHours};')

@description('Marketplace image with NVIDIA drivers (publisher, offer, sku, version) and the node agent it needs.')
param image object

param nodeAgentSkuId string
param nodeIdentityId string
param nodeClientId string
param blobEndpoint string
param queueEndpoint string
param nodePackageContainer string

@description('Model the node server loads and warms before the node takes tasks.')
param defaultModel string

param workspaceId string

@description('Application Insights: the node server exports its telemetry there with the node identity (Entra).')
param insightsConnectionString string

@description('The operator\'s environment for the start task (main.bicep\'s nodeSettings): added to the template\'s, and a name the template sets is replaced, so each name is given once. Values go through string().')
param nodeSettings object

var userSubscription = poolAllocationMode == 'UserSubscription'
// What the start task downloads with the node identity (infra/deploy.sh uploads them): the node setup
// script, the batch_tasks source as a zip, and its pinned requirements.
var nodePackageUrl = '${blobEndpoint}${nodePackageContainer}'
var nodeFiles = ['start-task.sh', 'batch_tasks.zip', 'requirements.txt']
// The start task's environment; batch_tasks/start.py passes every SITELENS_* and OTEL_TRACES_SAMPLER* variable
// (and the connection string) on to the node server. nodeSettings is merged last: Batch refuses a start task that
// names a variable twice, and an operator's value (more warm models, say) is meant to win.
var startTaskEnvironment = union({
  SITELENS_STORAGE_BLOB_URL: blobEndpoint
  SITELENS_STORAGE_QUEUE_URL: queueEndpoint
  SITELENS_NODE_CLIENT_ID: nodeClientId
  SITELENS_WARM_MODELS: defaultModel
  APPLICATIONINSIGHTS_CONNECTION_STRING: insightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${nodeClientId};Authorization=AAD'
}, nodeSettings)

resource batch 'Microsoft.Batch/batchAccounts@2024-07-01' = {
  // checkov:skip=CKV_AZURE_248: the Functions app (Flex Consumption without a VNet) and the nodes reach the Batch endpoint over the internet; only Entra-authenticated calls are accepted (allowedAuthenticationModes AAD, checked by CKV_SITELENS_5)
  // checkov:skip=CKV_AZURE_76: Batch holds no customer data beyond task metadata (photos stay in storage); Microsoft-managed keys are used
  name: batchAccountName
  location: location
  tags: tags
  properties: {
    poolAllocationMode: poolAllocationMode
    allowedAuthenticationModes: ['AAD']
    publicNetworkAccess: 'Enabled'
    keyVaultReference: userSubscription ? {
      id: keyVaultId
      url: keyVaultUri
    } : null
  }
}

resource pool 'Microsoft.Batch/batchAccounts/pools@2024-07-01' = {
  parent: batch
  name: poolId
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${nodeIdentityId}': {}
    }
  }
  properties: {
    vmSize: vmSize
    taskSlotsPerNode: taskSlotsPerNode
    // Pack fills a node's slots before using another, so autoscale can remove nodes that fall idle.
    taskSchedulingPolicy: {
      nodeFillType: 'Pack'
    }
    interNodeCommunication: 'Disabled'
    targetNodeCommunicationMode: 'Simplified'
    deploymentConfiguration: {
      virtualMachineConfiguration: {
        imageReference: image
        nodeAgentSkuId: nodeAgentSkuId
      }
    }
    scaleSettings: {
      autoScale: {
        formula: autoscaleFormula
        evaluationInterval: 'PT5M'
      }
    }
    startTask: {
      // Installs Python, a venv with batch_tasks and its requirements, then `python -m batch_tasks.start
      // --supervisor systemd`, which exits once the node server is warm: Batch schedules only onto ready nodes.
      commandLine: '/bin/bash start-task.sh'
      resourceFiles: [for file in nodeFiles: {
        httpUrl: '${nodePackageUrl}/${file}'
        filePath: file
        identityReference: {
          resourceId: nodeIdentityId
        }
      }]
      environmentSettings: [for setting in items(startTaskEnvironment): {
        name: setting.key
        value: string(setting.value)
      }]
      // Root, for apt and the systemd unit; tasks themselves run as the non-admin pool user.
      userIdentity: {
        autoUser: {
          scope: 'Pool'
          elevationLevel: 'Admin'
        }
      }
      waitForSuccess: true
      maxTaskRetryCount: 2
    }
  }
}

// To the workspace: the account's exportable metrics (AzureMetrics: TaskStartEvent, which the stuck-pool
// alert counts, TaskFailEvent ...; node counts are not exported, so the idle-GPU alert is a metric alert)
// and its service log events (category ServiceLog, into
// AzureDiagnostics: pool resize, task start/complete/fail events, for looking into a stuck pool).
resource batchLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'batch-logs'
  scope: batch
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        categoryGroup: 'allLogs'
        enabled: true
      }
    ]
    metrics: [
      {
        category: 'AllMetrics'
        enabled: true
      }
    ]
  }
}

output batchAccountName string = batch.name
output batchAccountId string = batch.id
output batchEndpoint string = 'https://${batch.properties.accountEndpoint}'
output poolId string = pool.name
