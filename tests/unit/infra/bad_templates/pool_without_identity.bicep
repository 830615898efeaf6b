// Bad on purpose: nodes without a user-assigned identity (CKV_SITELENS_6).
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
