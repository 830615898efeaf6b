// Bad on purpose: anonymous blob access allowed (CKV_SITELENS_2).
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
    allowBlobPublicAccess: true
    sasPolicy: {
      sasExpirationPeriod: '0.01:00:00'
      expirationAction: 'Block'
    }
  }
}
