// Bad on purpose: a SAS past the policy's period is only logged, not refused (CKV_SITELENS_3).
resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: 'stbadexample'
  location: 'westeurope'
  kind: 'StorageV2'
  sku: {
    name: 'Standard_ZRS'
  }
  properties: {
    supportsHttpsTrafficOnly: true
    minimumTlsVersion: 'TLS1_2'
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    sasPolicy: {
      sasExpirationPeriod: '0.01:00:00'
      expirationAction: 'Log'
    }
  }
}
