// The two user-assigned identities: one for the Functions app, one for the Batch pool's nodes.
// Separate identities keep each side's roles apart: a node can never read photos or write job records.

param location string
param functionIdentityName string
param nodeIdentityName string
param tags object

resource functionIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: functionIdentityName
  location: location
  tags: tags
}

resource nodeIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: nodeIdentityName
  location: location
  tags: tags
}

output functionIdentityId string = functionIdentity.id
output functionPrincipalId string = functionIdentity.properties.principalId
output functionClientId string = functionIdentity.properties.clientId
output nodeIdentityId string = nodeIdentity.id
output nodePrincipalId string = nodeIdentity.properties.principalId
output nodeClientId string = nodeIdentity.properties.clientId
