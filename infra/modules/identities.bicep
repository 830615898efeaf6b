// The two user-assigned identities: one for the Functions app, one for the Batch pool's nodes.
// Separate identities keep each side's roles apart: a node cannot read the originals (photos/), the tables or
// any queue. It is not scoped to a job or a site, though: it reads every site's task inputs (derived/), reads
// and writes every result and overlay (results/), and sends completion messages, which the app trusts, so
// whatever holds it can end or forge any open job (docs/deploy.md, "Who may do what").

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
