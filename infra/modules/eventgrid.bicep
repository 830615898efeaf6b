// The Event Grid system topic on the storage account. Its BlobCreated subscription for photos/ goes to
// the Functions blob extension's webhook, whose key exists only once the app has been deployed and has
// started, so infra/deploy.sh creates the subscription after the code deployment, with a retry policy
// and a dead-letter container written with this topic's own identity (deadLetterWithResourceIdentity;
// its role is in roles.bicep).

param location string
param topicName string
param storageAccountId string
param tags object

resource topic 'Microsoft.EventGrid/systemTopics@2022-06-15' = {
  name: topicName
  location: location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    source: storageAccountId
    topicType: 'Microsoft.Storage.StorageAccounts'
  }
}

output topicName string = topic.name
output topicId string = topic.id  // the lost-event alerts watch its metrics (alerts.bicep)
output topicPrincipalId string = topic.identity.principalId
