// Bad on purpose: the pool's image is 'latest', so nodes added later may run another image (CKV_SITELENS_10).
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
    deploymentConfiguration: {
      virtualMachineConfiguration: {
        imageReference: {
          publisher: 'microsoft-dsvm'
          offer: 'ubuntu-hpc'
          sku: '2204'
          version: 'latest'
        }
        nodeAgentSkuId: 'batch.node.ubuntu 22.04'
      }
    }
    scaleSettings: {
      autoScale: {
        formula: loadTextContent('../../../../infra/autoscale.formula')
        evaluationInterval: 'PT5M'
      }
    }
  }
}
