// Bad on purpose: the workspace accepts shared-key ingestion and queries (CKV_SITELENS_9).
resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: 'log-bad'
  location: 'westeurope'
  properties: {
    sku: {
      name: 'PerGB2018'
    }
  }
}
