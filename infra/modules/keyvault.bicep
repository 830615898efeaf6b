// Only for poolAllocationMode UserSubscription: Batch keeps the pool VMs' secrets in a Key Vault of the
// subscription, and the Batch service principal ("Microsoft Azure Batch") must manage its secrets.

param location string
param vaultName string
param tags object

// Required here, so that UserSubscription mode without it fails validation with this parameter's name
// (the module is deployed only in that mode): an object id is a GUID, 36 characters.
@description('Object id of the Microsoft Azure Batch service principal in this tenant (app id ddbf3205-c6bd-46ae-8127-60eb93363864).')
@minLength(36)
@maxLength(36)
param batchServicePrincipalId string

@description('recover: bring back the soft-deleted vault of an earlier deployment (same name; purge protection keeps it 90 days).')
@allowed(['default', 'recover'])
param createMode string

var keyVaultSecretsOfficer = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  // checkov:skip=CKV_AZURE_109: the Batch service reaches the vault from its own infrastructure; Azure services bypass the firewall, and access is RBAC-only
  // checkov:skip=CKV_AZURE_189: same reason as CKV_AZURE_109: the Batch service must reach the vault
  name: vaultName
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    createMode: createMode
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    enabledForDeployment: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

// Key Vault Secrets Officer on the vault: Batch writes and reads the secrets of the VMs it creates.
resource batchManagesSecrets 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, batchServicePrincipalId, keyVaultSecretsOfficer)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsOfficer)
    principalId: batchServicePrincipalId
    principalType: 'ServicePrincipal'
  }
}

output vaultId string = vault.id
output vaultUri string = vault.properties.vaultUri
