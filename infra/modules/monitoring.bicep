// Log Analytics and workspace-based Application Insights, both Entra-only: the Functions app sends
// telemetry with its managed identity (Monitoring Metrics Publisher), never with the instrumentation key.

param location string
param workspaceName string
param insightsName string
param tags object

@description('Days Log Analytics keeps data.')
@minValue(30)
param retentionDays int

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: workspaceName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionDays
    features: {
      disableLocalAuth: true
    }
  }
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: insightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    IngestionMode: 'LogAnalytics'
    DisableLocalAuth: true
  }
}

output workspaceId string = workspace.id
output insightsId string = insights.id
output insightsName string = insights.name
// Not a secret: it names the component, and with local auth disabled it cannot ingest on its own.
output insightsConnectionString string = insights.properties.ConnectionString
