// Bad on purpose: shared key access left on (CKV_SITELENS_1).
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
    allowSharedKeyAccess: true
    allowBlobPublicAccess: false
    sasPolicy: {
      sasExpirationPeriod: '0.01:00:00'
      expirationAction: 'Block'
    }
  }
}
