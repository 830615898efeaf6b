// Bad on purpose: a fixed-size pool, never scaling to zero (CKV_SITELENS_7).
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
      fixedScale: {
        targetDedicatedNodes: 2
      }
    }
  }
}
