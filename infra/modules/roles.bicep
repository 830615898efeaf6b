// Who may do what, at the narrowest scope the code allows. Each assignment is named
// guid(scope, principal, role), so re-deploying finds the same assignment instead of adding another.
// tests/unit/infra/test_roles.py holds the same table and fails on any assignment added or missing, and
// on a custom role whose actions or assignable scope differ from the reviewed ones.

param storageAccountName string
param batchAccountName string
param insightsName string
param functionPrincipalId string
param nodePrincipalId string

@description('The Event Grid system topic\'s own identity: it writes undeliverable events to the dead-letter container.')
param eventGridPrincipalId string

@description('Object id of whoever runs infra/deploy.sh (it uploads the node package and the model); empty: none.')
param deployerPrincipalId string

@allowed(['User', 'ServicePrincipal', 'Group'])
param deployerPrincipalType string

// Built-in role definition ids (the same in every tenant).
var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  storageBlobDataReader: '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageQueueDataMessageSender: 'c6a89b2d-59bc-44d0-9896-0f6e12d7b80a'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
  azureBatchJobSubmitter: '48e5e92e-a480-4e71-aa9c-2778f4c13781'
}
var hasDeployer = !empty(deployerPrincipalId)

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' existing = {
  parent: storage
  name: 'default'
}

resource derived 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  parent: blobService
  name: 'derived'
}

resource results 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  parent: blobService
  name: 'results'
}

resource models 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  parent: blobService
  name: 'models'
}

resource nodePackage 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  parent: blobService
  name: 'node-package'
}

resource deadLetters 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  parent: blobService
  name: 'eventgrid-deadletter'
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' existing = {
  parent: storage
  name: 'default'
}

resource completions 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' existing = {
  parent: queueService
  name: 'completions'
}

resource batch 'Microsoft.Batch/batchAccounts@2024-07-01' existing = {
  name: batchAccountName
}

resource insights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: insightsName
}

// ---- custom roles --------------------------------------------------------------------------------

// What the pool waker needs: read the pool and update it (Evaluate and Enable autoscale). Batch has no
// narrower action, so pools/write allows any pool update or creation too (docs/deploy.md says what that
// exposes); not pools/delete, and no job or account rights. One definition per Batch
// account (its name is a guid of the account; its role name, unique in the tenant, names the account).
// Assignable in this resource group, the narrowest assignable scope Azure documents (management group,
// subscription or resource group); it is assigned below on the Batch account only.
resource poolAutoscaleKick 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(batch.id, 'sitelens pool autoscale kick')
  properties: {
    roleName: 'sitelens pool autoscale kick (${batchAccountName})'
    description: 'Read a Batch pool, evaluate its autoscale formula and enable autoscale again (sitelens scale from zero).'
    type: 'CustomRole'
    permissions: [
      {
        actions: [
          'Microsoft.Batch/batchAccounts/pools/read'
          'Microsoft.Batch/batchAccounts/pools/write'
        ]
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
    assignableScopes: [
      resourceGroup().id
    ]
  }
}

// ---- the Functions app's identity ---------------------------------------------------------------

// What the app's Owner assignment may not do: change any blob in node-package/ (the start task and
// batch_tasks, which every new node runs as root) or models/ (what the nodes load). The app only reads
// models/ (a manifest for health, routing.json) and never touches node-package/; deploy.sh writes both
// with the deployer's own assignment. A role assignment condition (ABAC) limits data actions only: every
// blob action of the role that changes content, versions, tags, legal holds or (with a hierarchical
// namespace) names and ACLs is allowed only where the container is neither of the two. Reads stay
// unconditional. Conditions are evaluated for Entra requests and user delegation SAS alike, and shared key
// is off on the account, so no other way around it remains; the role's management actions
// (containers/*: creating or deleting a container) take no condition, see docs/deploy.md.
var functionBlobWritesExceptNodeInputs = '''
(
 (
  !(ActionMatches{'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write'})
  AND
  !(ActionMatches{'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/add/action'})
  AND
  !(ActionMatches{'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/delete'})
  AND
  !(ActionMatches{'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/deleteBlobVersion/action'})
  AND
  !(ActionMatches{'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/permanentDelete/action'})
  AND
  !(ActionMatches{'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/tags/write'})
  AND
  !(ActionMatches{'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/immutableStorage/runAsSuperUser/action'})
  AND
  !(ActionMatches{'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/move/action'})
  AND
  !(ActionMatches{'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/manageOwnership/action'})
  AND
  !(ActionMatches{'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/modifyPermissions/action'})
  AND
  !(ActionMatches{'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/runAsSuperUser/action'})
 )
 OR
 (
  @Resource[Microsoft.Storage/storageAccounts/blobServices/containers:name] StringNotEquals 'node-package'
  AND
  @Resource[Microsoft.Storage/storageAccounts/blobServices/containers:name] StringNotEquals 'models'
 )
)
'''

// Storage Blob Data Owner on the account: AzureWebJobsStorage is the host's own storage (it creates
// azure-webjobs-hosts and azure-webjobs-secrets at run time, hence account scope), the blob trigger's
// connection (Microsoft documents Owner for it), the one-deploy package, and the app's containers
// (photos read and, once rejected, deleted; quarantine and derived written; results read); the role
// includes the user delegation key the app signs upload and read links with. Its condition (above) keeps
// node-package/ and models/ read-only to the app.
resource functionBlobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, functionPrincipalId, roles.storageBlobDataOwner)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
    principalId: functionPrincipalId
    principalType: 'ServicePrincipal'
    condition: functionBlobWritesExceptNodeInputs
    conditionVersion: '2.0'
  }
}

// Storage Queue Data Contributor on the account: the queue triggers (completions, notifications), the
// outbox's sends, the host's poison queues and the blob trigger's internal queues, which the host
// names and creates at run time.
resource functionQueueContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, functionPrincipalId, roles.storageQueueDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageQueueDataContributor)
    principalId: functionPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Storage Table Data Contributor on the account: the job and webhook stores create their tables if
// absent, under SITELENS_TABLE_PREFIX, so their names are not fixed here.
resource functionTableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, functionPrincipalId, roles.storageTableDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor)
    principalId: functionPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Azure Batch Job Submitter on the Batch account: create jobs and tasks, read them, terminate and delete old day jobs, read
// the pool (health); it cannot change the pool or the account.
resource functionBatchSubmitter 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(batch.id, functionPrincipalId, roles.azureBatchJobSubmitter)
  scope: batch
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.azureBatchJobSubmitter)
    principalId: functionPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// sitelens pool autoscale kick on the Batch account: after a submission to the pool at zero, the pool
// waker (shared/adapters/azure_pool_waker.py, docs/autoscale.md "Scale from zero") reads the pool, runs
// its formula through Evaluate autoscale and enables autoscale again so the next evaluation comes at once.
// Batch authorises pool calls on its own endpoint with the pool's management actions (there is no pool
// data action): reading needs pools/read, and enabling autoscale is a pool update, pools/write; Evaluate
// has no action of its own, so it is covered by the same two. Job Submitter already grants pools/read;
// the role repeats it to hold everything the kick needs. Azure Batch Data Contributor would also do, but
// grants pools/* (delete, stop resize, disable autoscale), applications, certificates and deployments.
resource functionPoolKick 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(batch.id, functionPrincipalId, poolAutoscaleKick.name)
  scope: batch
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', poolAutoscaleKick.name)
    principalId: functionPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Monitoring Metrics Publisher on the Application Insights component: telemetry with Entra auth,
// since the component's local (key) auth is disabled.
resource functionTelemetry 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(insights.id, functionPrincipalId, roles.monitoringMetricsPublisher)
  scope: insights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
    principalId: functionPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// ---- the pool's node identity -------------------------------------------------------------------

// Monitoring Metrics Publisher on the Application Insights component: the node server's telemetry, Entra auth.
resource nodeTelemetry 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(insights.id, nodePrincipalId, roles.monitoringMetricsPublisher)
  scope: insights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
    principalId: nodePrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Storage Blob Data Reader on derived/: tasks download their input (a resource file) with the identity.
resource nodeReadsDerived 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(derived.id, nodePrincipalId, roles.storageBlobDataReader)
  scope: derived
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataReader)
    principalId: nodePrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Storage Blob Data Reader on models/: the node server downloads model versions and routing.json.
resource nodeReadsModels 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(models.id, nodePrincipalId, roles.storageBlobDataReader)
  scope: models
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataReader)
    principalId: nodePrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Storage Blob Data Reader on node-package/: the start task downloads the node setup and batch_tasks.
resource nodeReadsPackage 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(nodePackage.id, nodePrincipalId, roles.storageBlobDataReader)
  scope: nodePackage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataReader)
    principalId: nodePrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Storage Blob Data Contributor on results/: tasks write result.json and overlay.jpg (overwriting on a
// retry, which keeps them idempotent).
resource nodeWritesResults 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(results.id, nodePrincipalId, roles.storageBlobDataContributor)
  scope: results
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor)
    principalId: nodePrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Storage Queue Data Message Sender on the completions queue: tasks post their completion message and
// can neither read nor delete messages.
resource nodeSendsCompletions 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(completions.id, nodePrincipalId, roles.storageQueueDataMessageSender)
  scope: completions
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageQueueDataMessageSender)
    principalId: nodePrincipalId
    principalType: 'ServicePrincipal'
  }
}

// ---- the Event Grid system topic's identity ------------------------------------------------------

// Storage Blob Data Contributor on eventgrid-deadletter/: the photos subscription dead-letters events it
// could not deliver there, with the topic's identity (deadLetterWithResourceIdentity), not a key or SAS.
resource eventGridWritesDeadLetters 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(deadLetters.id, eventGridPrincipalId, roles.storageBlobDataContributor)
  scope: deadLetters
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor)
    principalId: eventGridPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// ---- whoever deploys ----------------------------------------------------------------------------

// Storage Blob Data Contributor on node-package/: deploy.sh uploads the start task, batch_tasks and its
// requirements there (shared key is off, so uploads use the deployer's Entra login).
resource deployerWritesPackage 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (hasDeployer) {
  name: guid(nodePackage.id, deployerPrincipalId, roles.storageBlobDataContributor)
  scope: nodePackage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor)
    principalId: deployerPrincipalId
    principalType: deployerPrincipalType
  }
}

// Storage Blob Data Contributor on models/: deploy.sh publishes the default model there.
resource deployerWritesModels 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (hasDeployer) {
  name: guid(models.id, deployerPrincipalId, roles.storageBlobDataContributor)
  scope: models
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor)
    principalId: deployerPrincipalId
    principalType: deployerPrincipalType
  }
}
