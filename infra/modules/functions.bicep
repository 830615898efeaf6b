// The Functions app on Flex Consumption (Linux, Python), running as its user-assigned identity.
// Every connection is identity-based: the settings below carry endpoints and client ids, never keys.

param location string
param planName string
param appName string
param tags object

@description('Python version of the Functions runtime (Flex Consumption lists 3.10-3.12).')
@allowed(['3.11', '3.12'])
param pythonVersion string

@description('Memory per instance in MB (Flex Consumption sizes).')
@allowed([512, 2048, 4096])
param instanceMemoryMB int

@description('Most instances the app scales out to: Flex Consumption accepts 40 to 1000.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int

@description('Spread the app\'s instances over the region\'s availability zones. The platform then keeps at least two always-ready instances of every per-function scaling group (billed as always-ready, whatever the app configures); only some regions offer it.')
param zoneRedundant bool

param identityId string
param identityClientId string
param blobEndpoint string
param queueEndpoint string
param tableEndpoint string
param appPackageContainer string
param insightsConnectionString string

@description('The app settings that configure sitelens itself (SITELENS_*), built in main.bicep.')
param sitelensSettings object

@description('The operator\'s settings (main.bicep\'s extraAppSettings), merged last: a name set above is replaced. Values go through string().')
param extraAppSettings object

// Host storage, the blob trigger and the queue triggers (connection "AzureWebJobsStorage") all use the
// identity: the multi-service form, since a blob trigger needs the queue endpoint too.
var platformSettings = {
  AzureWebJobsStorage__blobServiceUri: blobEndpoint
  AzureWebJobsStorage__queueServiceUri: queueEndpoint
  AzureWebJobsStorage__tableServiceUri: tableEndpoint
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  APPLICATIONINSIGHTS_CONNECTION_STRING: insightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  // OpenTelemetry on Flex Consumption (docs/telemetry.md#azure-functions): the worker streams the app's own
  // spans and logs and makes the host's invocation context current; the app's exporter signs in as this identity.
  PYTHON_ENABLE_OPENTELEMETRY: 'true'
  AZURE_CLIENT_ID: identityClientId
  // The instance's memory, set beside it (scaleAndConcurrency below): validation decodes within half of it.
  SITELENS_INSTANCE_MEMORY_MB: string(instanceMemoryMB)
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225: zone redundancy is the zoneRedundant parameter, on in prod and off in dev (which does not pay for the always-ready instances it brings); checkov cannot evaluate a parameter
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
    zoneRedundant: zoneRedundant
  }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_17: clients authenticate with function keys and devices upload with SAS links; client certificates fit neither
  // checkov:skip=CKV_AZURE_16: the API authenticates callers with function keys (docs/api.md), not Entra sign-in
  // checkov:skip=CKV_AZURE_222: field devices and webhook clients call the API over the internet; there is no private network to restrict it to
  // checkov:skip=CKV_AZURE_213: the health endpoint is /api/health, smoke-checked by deploy.sh; Flex Consumption has no instance health-check eviction to configure
  // checkov:skip=CKV_AZURE_212: Flex Consumption has no fixed instance count to set for failover; it scales per function group, from zero
  name: appName
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    publicNetworkAccess: 'Enabled'
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${blobEndpoint}${appPackageContainer}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: pythonVersion
      }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      remoteDebuggingEnabled: false
      // The whole list: a deployment replaces every app setting, so one changed in the portal is reset here.
      appSettings: [for item in items(union(platformSettings, sitelensSettings, extraAppSettings)): {
        name: item.key
        value: string(item.value)
      }]
    }
  }
}

// Deploying code with `az functionapp deployment source config-zip` goes through SCM; basic
// (publishing-credential) auth stays off for it and for FTP, so only Entra-authenticated callers deploy.
resource ftpCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: app
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: app
  name: 'scm'
  properties: {
    allow: false
  }
}

output appName string = app.name
output appId string = app.id
output defaultHostName string = app.properties.defaultHostName
