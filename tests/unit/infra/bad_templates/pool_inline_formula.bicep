// Bad on purpose: the formula inline, not the tested file, on a 15-minute interval (CKV_SITELENS_7).
resource batch 'Microsoft.Batch/batchAccounts@2024-07-01' = {
  name: 'babad'
  location: 'westeurope'
  properties: {
    allowedAuthenticationModes: ['AAD']
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
        formula: '$TargetDedicatedNodes = 1;'
        evaluationInterval: 'PT15M'
      }
    }
  }
}
