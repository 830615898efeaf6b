// The storage account: blobs (photos and everything derived from them, the packages), queues, tables.
// Entra ID only: no shared key, so no account-key SAS and no connection strings anywhere; the app
// signs device upload links with user delegation keys.

param location string
param storageAccountName string
param tags object

@description('Replication. ZRS keeps a zone outage from stopping uploads; GRS/GZRS add a second region.')
@allowed(['Standard_LRS', 'Standard_ZRS', 'Standard_GRS', 'Standard_GZRS', 'Standard_RAGRS', 'Standard_RAGZRS'])
param skuName string

@description('The sasPolicy expiration period, d.hh:mm:ss. Azure applies it only to SAS signed with an account key, which this account cannot sign (shared key is off): the app\'s user delegation SAS links are bounded by the app (15 minutes, 20 at most for a job\'s read links) and its delegation key (2 hours). Task inputs use no SAS.')
param sasExpirationPeriod string

@description('Days an original photo is kept before deletion. Its derived task input and its result (the overlay is the photo drawn with its boxes) have their own retention, below: the photo\'s image is stored until the longest of the three has passed.')
@minValue(1)
param originalsRetentionDays int

@description('Days a rejected original is kept in quarantine for inspection.')
@minValue(1)
param quarantineRetentionDays int

@description('Days the derived task input (derived/{job_id}/input.jpg) is kept; a task reads it once, retries within hours.')
@minValue(1)
param derivedRetentionDays int

@description('Days a result (results/{job_id}/result.json and overlay.jpg) is kept after it is written; the app reads the same number (SITELENS_RESULTS_RETENTION_DAYS) to reuse and link only results still kept.')
@minValue(1)
param resultsRetentionDays int

@description('Days a deleted blob or container can still be restored.')
@minValue(1)
param softDeleteDays int

@description('Log Analytics workspace for queue logs (the poison-queue alert reads them).')
param workspaceId string

@description('A CanNotDelete lock on the account: deleting it (or its group) fails until the lock is removed. A deleted account can be recovered within 14 days only while no new account of its name exists, and a re-deployment creates one at once.')
param deleteLock bool

// Containers the code names (shared/adapters/azure_photo_store.py, shared/uploads/naming.py) and two
// for packages: the Functions app's one-deploy package, and what the Batch start task installs.
var dataContainers = ['photos', 'quarantine', 'derived', 'results', 'models']
var appPackageContainer = 'app-package'
var nodePackageContainer = 'node-package'
// Events Event Grid could not deliver to the blob trigger (docs/deploy.md: finding and replaying them).
var deadLetterContainer = 'eventgrid-deadletter'
// completions (Batch tasks → Functions) and notifications (outbox → webhooks); the host moves a message
// that failed maxDequeueCount times to <name>-poison, and blob-trigger failures to webjobs-blobtrigger-poison,
// where on_photo_poisoned tries the photo again and copies what it cannot settle to
// webjobs-blobtrigger-poison-poison (shared/jobs/poisoned_photos.py).
var queueNames = ['completions', 'completions-poison', 'notifications', 'notifications-poison', 'webjobs-blobtrigger-poison', 'webjobs-blobtrigger-poison-poison']
// Job store and webhook store tables (shared/adapters/azure_job_store.py, azure_webhook_store.py).
var tableNames = ['jobs', 'jobfeedback', 'webhooksubscriptions', 'webhookevents', 'webhookdeliveries']

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_35: field devices upload over the internet with one-blob SAS links, and Flex Consumption apps without a VNet reach storage over public endpoints; access is Entra-only (no shared key) instead
  // checkov:skip=CKV_AZURE_59: same reason as CKV_AZURE_35: devices must reach the blob endpoint from anywhere; anonymous access is off (allowBlobPublicAccess false, checked by CKV_SITELENS_2)
  // checkov:skip=CKV_AZURE_43: the name is computed (st + environment + uniqueString, at most 24 lowercase letters and digits), which the check cannot evaluate
  // checkov:skip=CKV_AZURE_206: replication is the skuName parameter; prod uses ZRS or better, dev LRS to keep cost down
  name: storageAccountName
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: skuName
  }
  properties: {
    accessTier: 'Hot'
    supportsHttpsTrafficOnly: true
    minimumTlsVersion: 'TLS1_2'
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    defaultToOAuthAuthentication: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
    // Binds only account-key SAS (service and account SAS), which shared key being off rules out already; kept
    // as a second guard should shared key ever be turned on. User delegation SAS are not bound by it.
    sasPolicy: {
      sasExpirationPeriod: sasExpirationPeriod
      expirationAction: 'Block'
    }
    encryption: {
      keySource: 'Microsoft.Storage'
      requireInfrastructureEncryption: true
      services: {
        blob: {
          enabled: true
        }
        file: {
          enabled: true
        }
        queue: {
          enabled: true
          keyType: 'Account'
        }
        table: {
          enabled: true
          keyType: 'Account'
        }
      }
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: softDeleteDays
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: softDeleteDays
    }
  }
}

resource containers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [for name in concat(dataContainers, [appPackageContainer, nodePackageContainer, deadLetterContainer]): {
  parent: blobService
  name: name
  properties: {
    publicAccess: 'None'
  }
}]

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource queues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = [for name in queueNames: {
  parent: queueService
  name: name
}]

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource tables 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = [for name in tableNames: {
  parent: tableService
  name: name
}]

// Originals, rejects, task inputs and results expire (a result's overlay is the photo itself, drawn with its
// boxes); models are kept (versioned by hand). A device's create-only SAS can also leave a snapshot of its photo
// or re-create the name as an append blob, and lifecycle deletes no base blob that still has snapshots: so the
// originals' and rejects' rules match append blobs and delete snapshots too.
resource lifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    policy: {
      rules: [
        {
          name: 'expire-originals'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: ['blockBlob', 'appendBlob']
              prefixMatch: ['photos/']
            }
            actions: {
              baseBlob: {
                delete: {
                  daysAfterModificationGreaterThan: originalsRetentionDays
                }
              }
              snapshot: {
                delete: {
                  daysAfterCreationGreaterThan: originalsRetentionDays
                }
              }
            }
          }
        }
        {
          name: 'expire-quarantine'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: ['blockBlob', 'appendBlob']
              prefixMatch: ['quarantine/']
            }
            actions: {
              baseBlob: {
                delete: {
                  daysAfterModificationGreaterThan: quarantineRetentionDays
                }
              }
              snapshot: {
                delete: {
                  daysAfterCreationGreaterThan: quarantineRetentionDays
                }
              }
            }
          }
        }
        {
          name: 'expire-derived'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: ['blockBlob']
              prefixMatch: ['derived/']
            }
            actions: {
              baseBlob: {
                delete: {
                  daysAfterModificationGreaterThan: derivedRetentionDays
                }
              }
            }
          }
        }
        {
          name: 'expire-results'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: ['blockBlob']
              prefixMatch: ['results/']
            }
            actions: {
              baseBlob: {
                delete: {
                  daysAfterModificationGreaterThan: resultsRetentionDays
                }
              }
            }
          }
        }
        {
          // A dead-lettered BlobCreated event names a photo's blob (site, device, photo id); it can be replayed
          // only while the photo is kept, so it goes with the originals.
          name: 'expire-dead-letters'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: ['blockBlob', 'appendBlob']
              prefixMatch: ['${deadLetterContainer}/']
            }
            actions: {
              baseBlob: {
                delete: {
                  daysAfterModificationGreaterThan: originalsRetentionDays
                }
              }
            }
          }
        }
      ]
    }
  }
}

// A re-deployment after an accidental deletion would create an empty account of the same name, which ends the
// deleted one's recovery (docs/deploy.md, "Removing it"); the lock stops the deletion instead. It guards the account
// resource only: blobs, queues and tables inside can still be deleted, as the app does. infra/teardown.sh removes it
// by this name before deleting the group.
resource deleteProtection 'Microsoft.Authorization/locks@2020-05-01' = if (deleteLock) {
  name: 'sitelens-storage-cannot-delete'
  scope: storage
  properties: {
    level: 'CanNotDelete'
    notes: 'Photos, results and job records: infra/teardown.sh removes this lock before deleting the group (docs/deploy.md, Removing it).'
  }
}

// Queue operations to Log Analytics: the poison-queue alert counts PutMessage calls on *-poison queues.
resource queueLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'queue-logs'
  scope: queueService
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        categoryGroup: 'allLogs'
        enabled: true
      }
    ]
  }
}

output storageAccountName string = storage.name
output storageAccountId string = storage.id
output blobEndpoint string = storage.properties.primaryEndpoints.blob
output queueEndpoint string = storage.properties.primaryEndpoints.queue
output tableEndpoint string = storage.properties.primaryEndpoints.table
output appPackageContainer string = appPackageContainer
output nodePackageContainer string = nodePackageContainer
output deadLetterContainer string = deadLetterContainer
