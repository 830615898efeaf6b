// sitelens in one resource group: storage, the Functions app, the Batch GPU pool, monitoring, roles
// and alerts. Deployed by infra/deploy.sh (az) or `azd up` (azure.yaml); parameters per environment in
// main.dev.bicepparam and main.prod.bicepparam. docs/deploy.md walks through it.

targetScope = 'resourceGroup'

@description('Short environment name (dev, prod ...): part of every resource name. Letters, digits and hyphens (as azd allows); storage and Batch account names leave the hyphens out.')
@minLength(2)
@maxLength(8)
param environmentName string

param location string = resourceGroup().location

@description('Tags on every resource.')
param tags object = {}

// ---- storage -----------------------------------------------------------------------------------

@allowed(['Standard_LRS', 'Standard_ZRS', 'Standard_GRS', 'Standard_GZRS', 'Standard_RAGRS', 'Standard_RAGZRS'])
param storageSku string = 'Standard_ZRS'

@description('The storage account\'s SAS expiration policy, d.hh:mm:ss. It binds only SAS signed with an account key, and shared key is off: the links the app signs (device uploads, result and overlay reads) are user delegation SAS, which the app limits to 15 minutes and signs with a delegation key it keeps up to 2 hours; task inputs use no SAS, the pool identity reads them.')
param sasExpirationPeriod string = '0.01:00:00'

param originalsRetentionDays int = 30
param quarantineRetentionDays int = 30
param derivedRetentionDays int = 7
@description('Days a result (results/{job}/result.json and overlay.jpg, the photo drawn with its boxes) is kept after it is written; the job and its summary stay. The app reuses a result for the same photo only while it has a day left.')
@minValue(1)
@maxValue(99999)
param resultsRetentionDays int = 90
@description('Days the tables keep a job after it was received: its state, timings and result summary (the first lines read), its webhook events and deliveries, its feedback, its upload reservation and content claims. A timer deletes them then. At least resultsRetentionDays and longer than the give-up bound plus the webhook retries (4.1 days by default), or the app refuses to start; by default a year, or resultsRetentionDays if longer.')
@minValue(5)
@maxValue(99999)
param recordsRetentionDays int = max(365, resultsRetentionDays)
param softDeleteDays int = 7
param logRetentionDays int = 30
@description('A CanNotDelete lock on the storage account (true in prod): a deleted account can be recovered within 14 days only while no new account of its name exists, which the next deployment would create. infra/teardown.sh removes the lock.')
param storageDeleteLock bool = true

// ---- Functions ---------------------------------------------------------------------------------

@allowed(['3.11', '3.12'])
param pythonVersion string = '3.11'
@allowed([512, 2048, 4096])
param instanceMemoryMB int = 2048
@description('Most app instances. Flex Consumption accepts 40 to 1000 (the lowest setting is 40 in most regions).')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40
@description('A zone-redundant Functions plan (true in prod): the app survives a zone outage, but the platform then keeps at least two always-ready instances of each per-function scaling group, billed around the clock (docs/deploy.md, "What is lost when"). Only some regions offer it: az functionapp list-flexconsumption-locations --zone-redundant=true.')
param zoneRedundant bool = false

// ---- Batch -------------------------------------------------------------------------------------

@description('BatchService (default): Batch-managed VMs, Batch account core quotas, no Spot. UserSubscription: VMs in this subscription under its vCPU quotas, Spot possible; needs batchServicePrincipalId and a subscription role for Batch that a subscription owner grants once (docs/deploy.md).')
@allowed(['BatchService', 'UserSubscription'])
param poolAllocationMode string = 'BatchService'

@description('UserSubscription mode only (required there): object id of the Microsoft Azure Batch service principal in this tenant (app id ddbf3205-c6bd-46ae-8127-60eb93363864; docs/deploy.md says how to look it up once).')
param batchServicePrincipalId string = ''

@description('UserSubscription mode only: recover, when a soft-deleted vault of this deployment exists (purge protection keeps it 90 days after a teardown); deploy.sh detects it.')
@allowed(['default', 'recover'])
param keyVaultCreateMode string = 'default'

@description('GPU VM size of the pool nodes (NCasT4_v3: one T4 GPU).')
param vmSize string = 'Standard_NC4as_T4_v3'
@description('Tasks one node runs at once; the node server batches their photos on its GPU.')
@minValue(1)
@maxValue(256)
param taskSlotsPerNode int = 4

// The autoscale formula's knobs (infra/autoscale.formula; tuned with `sitelens autoscale simulate`,
// docs/autoscale.md). The defaults are the formula file's own.
@description('The most nodes the pool may have; the GPU core quota must allow it (docs/deploy.md).')
@minValue(1)
@maxValue(1000)
param maxNodes int = 4
@description('Pending tasks that justify one more node.')
@minValue(1)
param pendingPerNode int = 100
@description('Minutes the nodes are kept after the last pending task.')
@minValue(1)
@maxValue(60)
param holdMinutes int = 5
@description('Nodes kept through working hours (Monday to Friday) in the sites\' time zone.')
@minValue(0)
param minNodesAtWork int = 0
@description('Working hours in the sites\' time zone: from this hour ...')
@minValue(0)
@maxValue(23)
param workStartHour int = 7
@description('... to this hour.')
@minValue(1)
@maxValue(24)
param workEndHour int = 18
@description('The sites\' time zone as hours from UTC.')
@minValue(-12)
@maxValue(14)
param utcOffsetHours int = 0

// 'latest', not a pinned version: the node package's CUDA 13 runtime (onnxruntime-gpu 1.31) needs NVIDIA driver r580
// or newer. The version pinned before, 22.04.2024102301, carries 560.35.03; the image build definitions list r580
// only from late 2025 on (Azure/azhpc-images, versions.json), and no marketplace version of those has been checked.
// The start task refuses a node whose driver is older (batch_tasks/start.py), so a wrong image shows as
// starttaskfailed. Pin a version you have checked: docs/deploy.md, "Node image".
@description('Marketplace image with NVIDIA GPU drivers (r580 or newer); docs/deploy.md says how to pin a version.')
param nodeImage object = {
  publisher: 'microsoft-dsvm'
  offer: 'ubuntu-hpc'
  sku: '2204'
  version: 'latest'
}

param nodeAgentSkuId string = 'batch.node.ubuntu 22.04'

// ---- sitelens settings (shared/config.py, shared/pipeline_settings.py, shared/uploads) -----------

param defaultModel string = 'ocr/ppocrv4'
// The bounds are the app's own (shared/pipeline_settings.py, shared/config.py; 2592000 s is its 30-day cap on
// any duration): outside them every HTTP function would answer 503 configuration_error, so a deployment
// refuses them instead.
@minValue(1)
@maxValue(2592000)
param taskMaxWallClockSeconds int = 600
@minValue(0)
@maxValue(10)
param taskMaxRetries int = 2
@minValue(1)
@maxValue(2592000)
param stuckAfterSeconds int = 900
@description('A job still open this long is FAILED timed_out: the bound on every accepted photo reaching a terminal state. At most 6 days: the reconciler deletes a day\'s Batch job seven days after the day.')
@minValue(1)
@maxValue(518400)
param giveUpAfterSeconds int = 86400
@minValue(1)
param maxPhotoBytes int = 41943040
@description('At most OpenCV\'s decode cap (batch_tasks/ocr/opencv.py MAX_PIXELS): a photo above it could not be decoded.')
@minValue(1)
@maxValue(50000000)
param maxPhotoPixels int = 50000000
@description('JSON object: site (or *) to the quality flags that reject a photo, e.g. {"*": ["blurry"]}.')
param qualityReject string = '{}'

@description('Clamped to 60-900 by the app.')
@minValue(60)
@maxValue(900)
param uploadSasTtlSeconds int = 900
param reconcileSchedule string = '0 */5 * * * *'
param webhookSweepSchedule string = '0 */2 * * * *'
param recordsExpirySchedule string = '0 2-59/5 * * * *'
@description('Comma-separated ports webhook receivers may use.')
param webhookAllowedPorts string = '443'
@description('An attempt still open this long is re-driven: longer than a live attempt can take (the send, up to 15 s, and the storage calls around it, one of which may get no answer for 25 s before its retry). The app refuses less than 60.')
@minValue(60)
@maxValue(2592000)
param webhookStaleAttemptSeconds int = 75
@minValue(1)
@maxValue(2592000)
param webhookLostMessageSeconds int = 120
@description('Multiplies every wait of the webhook retry schedule (a decimal; 1 is the Standard Webhooks schedule).')
param webhookRetryScale string = '1'

@description('App settings added to the Functions app\'s, merged last: a name the templates set is replaced (but SITELENS_TASK_ENV, JSON or an object, adds its entries to the template\'s task environment). Values go through string(). A setting changed in the portal is reset by the next deployment: put it here. docs/configuration.md.')
param extraAppSettings object = {}

@description('Environment added to the pool\'s start task, which passes every SITELENS_* and OTEL_TRACES_SAMPLER* variable to the node server (e.g. SITELENS_PROVIDER, SITELENS_MAX_BATCH): a name the template sets is replaced. Values go through string(). Reaches new and rebooted nodes. docs/configuration.md.')
param nodeSettings object = {}

@description('Prefix of the table names (queues and containers have none, so two deployments never share an account): empty, or a letter followed by letters and digits (no hyphen or underscore), at most 43 characters, so that every table name stays within Azure\'s 63.')
@maxLength(43)
param tablePrefix string = ''

// ---- alerts and deployment -----------------------------------------------------------------------

@description('Action group (resource id) the alerts notify; empty: alerts fire without notifying.')
param actionGroupId string = ''

param jobFailurePercent int = 10
param jobFailureMinJobs int = 20
@minValue(15)
@maxValue(180)
param stuckPoolMinutes int = 30
param functionErrorThreshold int = 5
// The cost guard (docs/deploy.md, "Cost guard"): an alert on GPU nodes idle above the working-hours floor, and a
// monthly budget on the resource group.
@description('Hours more than minNodesAtWork nodes must stay idle before the idle-GPU alert fires: 1, 6, 12 or 24, the windows a metric alert accepts. Above holdMinutes plus the autoscale interval and a node\'s removal, or nodes held on purpose would fire it.')
@allowed([1, 6, 12, 24])
param idleNodeHours int = 6
@description('Monthly cost budget on the resource group, in the billing account\'s currency; 0: no budget. Needs actionGroupId and budgetStartDate.')
@minValue(0)
param monthlyBudget int = 0
@description('First day of the budget\'s first month, yyyy-MM-01: the month the budget is first deployed. Keep it afterwards: Azure refuses to change a budget\'s start date. Only read when monthlyBudget is above 0.')
param budgetStartDate string = ''
@description('Object id of the person or pipeline running deploy.sh, allowed to upload packages and models; empty: none.')
param deployerPrincipalId string = ''

@description('What deployerPrincipalId is: role assignments must name it (UnmatchedPrincipalType otherwise). deploy.sh and the azd hook read it from the access token.')
@allowed(['User', 'ServicePrincipal', 'Group'])
param deployerPrincipalType string = 'User'

var suffix = uniqueString(resourceGroup().id, environmentName)
var base = 'sitelens-${environmentName}'
// Storage and Batch account names take lowercase letters and digits only.
var compactEnvironmentName = toLower(replace(environmentName, '-', ''))
var allTags = union(tags, {
  application: 'sitelens'
  environment: environmentName
})
var poolId = 'sitelens-gpu'
// The venv infra/node/start-task.sh builds on every node; {job_id} and {input} are filled in per task.
var taskCommand = '/bin/sh -c "$AZ_BATCH_NODE_SHARED_DIR/sitelens/current/bin/python -m batch_tasks.task {job_id} {input}"'
var userSubscription = poolAllocationMode == 'UserSubscription'

module identities 'modules/identities.bicep' = {
  name: 'identities'
  params: {
    location: location
    functionIdentityName: 'id-${base}-func'
    nodeIdentityName: 'id-${base}-node'
    tags: allTags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    location: location
    workspaceName: 'log-${base}-${suffix}'
    insightsName: 'appi-${base}-${suffix}'
    retentionDays: logRetentionDays
    tags: allTags
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    location: location
    storageAccountName: take('st${compactEnvironmentName}${suffix}', 24)
    skuName: storageSku
    sasExpirationPeriod: sasExpirationPeriod
    originalsRetentionDays: originalsRetentionDays
    quarantineRetentionDays: quarantineRetentionDays
    derivedRetentionDays: derivedRetentionDays
    resultsRetentionDays: resultsRetentionDays
    softDeleteDays: softDeleteDays
    workspaceId: monitoring.outputs.workspaceId
    deleteLock: storageDeleteLock
    tags: allTags
  }
}

module keyVault 'modules/keyvault.bicep' = if (userSubscription) {
  name: 'keyvault'
  params: {
    location: location
    vaultName: take('kv-${environmentName}-${suffix}', 24)
    createMode: keyVaultCreateMode
    batchServicePrincipalId: batchServicePrincipalId
    tags: allTags
  }
}

module batch 'modules/batch.bicep' = {
  name: 'batch'
  params: {
    location: location
    batchAccountName: take('ba${compactEnvironmentName}${suffix}', 24)
    poolAllocationMode: poolAllocationMode
    keyVaultId: userSubscription ? keyVault.outputs.vaultId : ''
    keyVaultUri: userSubscription ? keyVault.outputs.vaultUri : ''
    poolId: poolId
    vmSize: vmSize
    taskSlotsPerNode: taskSlotsPerNode
    maxNodes: maxNodes
    pendingPerNode: pendingPerNode
    holdMinutes: holdMinutes
    minNodesAtWork: minNodesAtWork
    workStartHour: workStartHour
    workEndHour: workEndHour
    utcOffsetHours: utcOffsetHours
    image: nodeImage
    nodeAgentSkuId: nodeAgentSkuId
    nodeIdentityId: identities.outputs.nodeIdentityId
    nodeClientId: identities.outputs.nodeClientId
    blobEndpoint: storage.outputs.blobEndpoint
    queueEndpoint: storage.outputs.queueEndpoint
    nodePackageContainer: storage.outputs.nodePackageContainer
    defaultModel: defaultModel
    workspaceId: monitoring.outputs.workspaceId
    insightsConnectionString: monitoring.outputs.insightsConnectionString
    nodeSettings: nodeSettings
    tags: allTags
  }
}

// What the Batch task needs to reach storage as the pool's identity (batch_tasks/node/settings.py).
var taskEnvironment = {
  SITELENS_STORAGE_BLOB_URL: storage.outputs.blobEndpoint
  SITELENS_STORAGE_QUEUE_URL: storage.outputs.queueEndpoint
  SITELENS_NODE_CLIENT_ID: identities.outputs.nodeClientId
}
// An operator's SITELENS_TASK_ENV (extraAppSettings, a JSON string or an object) adds its entries to the ones
// above instead of replacing them: without those a task cannot reach storage. Its entries win, as elsewhere.
var operatorTaskEnvironment = contains(extraAppSettings, 'SITELENS_TASK_ENV') ? json(string(extraAppSettings.SITELENS_TASK_ENV)) : {}
var taskEnvironmentSetting = string(union(taskEnvironment, operatorTaskEnvironment))

// Every setting sitelens reads, but the instance's memory, which modules/functions.bicep sets from instanceMemoryMB;
// tests/unit/infra/test_function_app.py compares the two lists with the code.
// No Batch key and no loopback webhooks in Azure: the app uses its identity, and refuses loopback there.
var sitelensSettings = {
  SITELENS_BATCH_URL: batch.outputs.batchEndpoint
  SITELENS_BATCH_POOL_ID: poolId
  SITELENS_TASK_COMMAND: taskCommand
  SITELENS_TASK_ENV: taskEnvironmentSetting
  SITELENS_NODE_IDENTITY_ID: identities.outputs.nodeIdentityId
  SITELENS_TASK_MAX_WALL_CLOCK_S: string(taskMaxWallClockSeconds)
  SITELENS_TASK_MAX_RETRIES: string(taskMaxRetries)
  SITELENS_DEFAULT_MODEL: defaultModel
  SITELENS_STUCK_AFTER_S: string(stuckAfterSeconds)
  SITELENS_GIVE_UP_AFTER_S: string(giveUpAfterSeconds)
  SITELENS_MAX_PHOTO_BYTES: string(maxPhotoBytes)
  SITELENS_MAX_PHOTO_PIXELS: string(maxPhotoPixels)
  SITELENS_QUALITY_REJECT: qualityReject
  SITELENS_UPLOAD_SAS_TTL_S: string(uploadSasTtlSeconds)
  SITELENS_RECONCILE_SCHEDULE: reconcileSchedule
  SITELENS_WEBHOOK_SWEEP_SCHEDULE: webhookSweepSchedule
  SITELENS_RECORDS_EXPIRY_SCHEDULE: recordsExpirySchedule
  SITELENS_WEBHOOKS_ALLOWED_PORTS: webhookAllowedPorts
  SITELENS_WEBHOOK_STALE_ATTEMPT_S: string(webhookStaleAttemptSeconds)
  SITELENS_WEBHOOK_LOST_MESSAGE_S: string(webhookLostMessageSeconds)
  SITELENS_WEBHOOK_RETRY_SCALE: webhookRetryScale
  SITELENS_TABLE_PREFIX: tablePrefix
  SITELENS_RESULTS_RETENTION_DAYS: string(resultsRetentionDays)
  SITELENS_RECORDS_RETENTION_DAYS: string(recordsRetentionDays)
}

module functions 'modules/functions.bicep' = {
  name: 'functions'
  params: {
    location: location
    planName: 'asp-${base}-${suffix}'
    appName: 'func-${base}-${suffix}'
    pythonVersion: pythonVersion
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    zoneRedundant: zoneRedundant
    identityId: identities.outputs.functionIdentityId
    identityClientId: identities.outputs.functionClientId
    blobEndpoint: storage.outputs.blobEndpoint
    queueEndpoint: storage.outputs.queueEndpoint
    tableEndpoint: storage.outputs.tableEndpoint
    appPackageContainer: storage.outputs.appPackageContainer
    insightsConnectionString: monitoring.outputs.insightsConnectionString
    sitelensSettings: sitelensSettings
    // The merged SITELENS_TASK_ENV replaces the operator's own, which holds only the added entries.
    extraAppSettings: union(extraAppSettings, {
      SITELENS_TASK_ENV: taskEnvironmentSetting
    })
    tags: union(allTags, {
      'azd-service-name': 'api'
    })
  }
}

module eventGrid 'modules/eventgrid.bicep' = {
  name: 'eventgrid'
  params: {
    location: location
    topicName: 'evgt-${base}-${suffix}'
    storageAccountId: storage.outputs.storageAccountId
    tags: allTags
  }
}

module roles 'modules/roles.bicep' = {
  name: 'roles'
  params: {
    storageAccountName: storage.outputs.storageAccountName
    batchAccountName: batch.outputs.batchAccountName
    insightsName: monitoring.outputs.insightsName
    functionPrincipalId: identities.outputs.functionPrincipalId
    nodePrincipalId: identities.outputs.nodePrincipalId
    eventGridPrincipalId: eventGrid.outputs.topicPrincipalId
    deployerPrincipalId: deployerPrincipalId
    deployerPrincipalType: deployerPrincipalType
  }
}

module alerts 'modules/alerts.bicep' = {
  name: 'alerts'
  params: {
    location: location
    namePrefix: base
    workspaceId: monitoring.outputs.workspaceId
    insightsId: monitoring.outputs.insightsId
    actionGroupId: actionGroupId
    jobFailurePercent: jobFailurePercent
    jobFailureMinJobs: jobFailureMinJobs
    stuckPoolMinutes: stuckPoolMinutes
    functionErrorThreshold: functionErrorThreshold
    batchAccountId: batch.outputs.batchAccountId
    idleNodeHours: idleNodeHours
    minNodesAtWork: minNodesAtWork
    eventGridTopicId: eventGrid.outputs.topicId
    tags: allTags
  }
}

module budget 'modules/budget.bicep' = if (monthlyBudget > 0) {
  name: 'budget'
  params: {
    budgetName: '${base}-monthly'
    amount: monthlyBudget
    startDate: budgetStartDate
    actionGroupId: actionGroupId
  }
}

// What deploy.sh and the operator need. No keys: there are none to hand out.
output AZURE_LOCATION string = location
output RESOURCE_GROUP string = resourceGroup().name
output STORAGE_ACCOUNT string = storage.outputs.storageAccountName
output STORAGE_BLOB_ENDPOINT string = storage.outputs.blobEndpoint
output NODE_PACKAGE_CONTAINER string = storage.outputs.nodePackageContainer
output MODELS_CONTAINER string = 'models'
output FUNCTION_APP_NAME string = functions.outputs.appName
output FUNCTION_APP_HOSTNAME string = functions.outputs.defaultHostName
output FUNCTION_APP_URL string = 'https://${functions.outputs.defaultHostName}'
output EVENT_GRID_TOPIC string = eventGrid.outputs.topicName
output EVENT_GRID_DEAD_LETTER_CONTAINER_ID string = '${storage.outputs.storageAccountId}/blobServices/default/containers/${storage.outputs.deadLetterContainer}'
output BATCH_ACCOUNT string = batch.outputs.batchAccountName
output BATCH_ENDPOINT string = batch.outputs.batchEndpoint
output BATCH_POOL_ID string = batch.outputs.poolId
output FUNCTION_IDENTITY_CLIENT_ID string = identities.outputs.functionClientId
output NODE_IDENTITY_ID string = identities.outputs.nodeIdentityId
output APPLICATION_INSIGHTS string = monitoring.outputs.insightsName
output LOG_ANALYTICS_WORKSPACE_ID string = monitoring.outputs.workspaceId
output ALERTS array = alerts.outputs.alertNames
