// Bad on purpose: a log alert window computed as PT{2n}M, which Azure Monitor refuses for most n (CKV_SITELENS_11).
param stuckMinutes int = 20

resource alert 'Microsoft.Insights/scheduledQueryRules@2022-06-15' = {
  name: 'bad-window'
  location: 'westeurope'
  properties: {
    severity: 2
    enabled: true
    scopes: ['/subscriptions/x/resourceGroups/y/providers/Microsoft.OperationalInsights/workspaces/z']
    evaluationFrequency: 'PT15M'
    windowSize: 'PT${2 * stuckMinutes}M'
    criteria: {
      allOf: [
        {
          query: 'AppTraces | count'
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
        }
      ]
    }
  }
}
