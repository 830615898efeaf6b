// Bad on purpose: Application Insights accepts the instrumentation key alone (CKV_SITELENS_4).
resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-bad'
  location: 'westeurope'
  kind: 'web'
  properties: {
    Application_Type: 'web'
    DisableLocalAuth: false
  }
}
