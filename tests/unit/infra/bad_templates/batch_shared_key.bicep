// Bad on purpose: the account also accepts Shared Key (CKV_SITELENS_5).
resource batch 'Microsoft.Batch/batchAccounts@2024-07-01' = {
  name: 'babad'
  location: 'westeurope'
  properties: {
    allowedAuthenticationModes: ['AAD', 'SharedKey']
  }
}

resource pool 'Microsoft.Batch/batchAccounts/pools@2024-07-01' = {
  parent: batch
  name: 'gpu'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '/subscriptions/x/resourceGroups/y/providers/Microsoft.ManagedIdentity/userAssignedIdentities/z': {}
    }
  }
  properties: {
    vmSize: 'Standard_NC4as_T4_v3'
    scaleSettings: {
      autoScale: {
        formula: loadTextContent('../../../../infra/autoscale.formula')
        evaluationInterval: 'PT5M'
      }
    }
  }
}
