// Alerts for what needs a person: poison messages, a failure rate, a pool that does not start tasks,
// function errors, GPU nodes left idle, records kept past their retention, and photos' BlobCreated events that
// Event Grid dead-lettered or dropped. Log alerts query the Log Analytics workspace that Application Insights,
// the queue logs and the Batch logs all write to; metric alerts read Azure Monitor's metrics.
// What the app itself reports, log alerts read from its metrics (shared/metrics.py), never from its log lines: a
// line written inside a trace goes with that trace, so at a sampling ratio of 0.1 (docs/telemetry.md#sampling)
// a rule counting lines would see about a tenth of them, while metrics are never sampled. Application Insights
// writes them to the workspace's AppMetrics table: Name the instrument's name, Sum a counter's increase over one
// export (a minute), Properties its attributes, TimeGenerated the export's time. A window's count is sum(Sum).

param location string
param namePrefix string
param workspaceId string
param insightsId string
param tags object

@description('Action group that alerts notify (resource id); empty: alerts fire without notifying anyone.')
param actionGroupId string

@description('Share of finished jobs (percent) that may fail in an hour before the failure-rate alert fires.')
@minValue(1)
@maxValue(100)
param jobFailurePercent int

@description('Finished jobs an hour needs before the failure rate counts (a few failures alone are not a rate).')
@minValue(1)
param jobFailureMinJobs int

@description('Minutes tasks may wait without any task starting before the stuck-pool alert fires. Scaling from zero takes 10-20 minutes. At most 180: the query looks back twice this long, within the rule\'s fixed 6-hour window.')
@minValue(15)
@maxValue(180)
param stuckPoolMinutes int

@description('Failed requests of the app\'s own code (a photo\'s ingest or completion that raised, each try) in 15 minutes that raise the function-errors alert.')
@minValue(1)
param functionErrorThreshold int

@description('The Batch account (resource id) whose GPU pool the idle-GPU alert watches.')
param batchAccountId string

@description('Hours more than minNodesAtWork nodes must stay idle before the idle-GPU alert fires: the windows a metric alert accepts.')
@allowed([1, 6, 12, 24])
param idleNodeHours int

@description('Nodes the autoscale formula keeps through working hours: idle on purpose, so not counted by the idle-GPU alert.')
@minValue(0)
param minNodesAtWork int

@description('The Event Grid system topic (resource id) on the storage account, whose photos-blob-created subscription delivers each photo\'s BlobCreated event to the app.')
param eventGridTopicId string

var actionGroups = empty(actionGroupId) ? [] : [actionGroupId]

// The Functions host moves a message to <queue>-poison after maxDequeueCount failures (host.json). Any such
// move is worth a look, except to webjobs-blobtrigger-poison: on_photo_poisoned tries those photos again and
// copies what it cannot settle to webjobs-blobtrigger-poison-poison, which is counted.
var poisonQuery = '''
StorageQueueLogs
| where OperationName == "PutMessage"
| where Uri has "-poison/messages"
| extend Queue = tostring(split(tostring(parse_url(Uri).Path), "/")[1])
| where Queue != "webjobs-blobtrigger-poison"
| summarize Messages = count() by Queue
'''

// shared/jobs/finisher.py counts each terminal transition once, in sitelens.photos.succeeded, .failed or
// .rejected by the state the job ended in (shared/metrics.py photo_finished). Their attributes are not read.
var failureQuery = format('''
AppMetrics
| where Name in ("sitelens.photos.succeeded", "sitelens.photos.failed", "sitelens.photos.rejected")
| summarize Finished = sum(Sum), Failed = sumif(Sum, Name == "sitelens.photos.failed")
| where Finished >= {0} and Failed * 100.0 / Finished > {1}
''', jobFailureMinJobs, jobFailurePercent)

// Tasks were submitted (sitelens.tasks.submitted, counted by shared/jobs/ingestion.py after each task Batch
// took) at least the bound ago, and no task has started on the pool since before then: the pool has pending
// tasks and no node to run them (quota, allocation failure, start task failing). A submission's row is dated
// at the export after it, within a minute, which the bound of 15 minutes and more absorbs. Task starts are
// the Batch account's documented TaskStartEvent metric (a count per minute, exportable), which the account's
// diagnostic setting sends to the workspace's AzureMetrics table (modules/batch.bicep).
var stuckPoolQuery = format('''
let bound = {0}m;
let submitted = toscalar(AppMetrics
    | where TimeGenerated between (ago(2 * bound) .. ago(bound))
    | where Name == "sitelens.tasks.submitted"
    | summarize sum(Sum));
let started = toscalar(AzureMetrics
    | where TimeGenerated > ago(2 * bound)
    | where ResourceProvider == "MICROSOFT.BATCH" and MetricName == "TaskStartEvent"
    | summarize sum(Total));
print Submitted = submitted, Started = started
| where coalesce(Submitted, 0.0) > 0 and coalesce(Started, 0.0) == 0
''', stuckPoolMinutes)

// shared/jobs/record_expiry.py counts each job a run looks at in sitelens.records.expired by its outcome
// (`expired`: deleted, `error`: a storage error kept it for the next run), the same counts its summary line
// after each run gives, which in Azure is written inside the timer invocation's trace (the Python worker makes
// the host's invocation context current) and so can be sampled out with it. Storage errors and nothing deleted
// for 6 hours: records past their retention are being kept, which nothing else would show (each error is caught).
var recordsQuery = '''
AppMetrics
| where Name == "sitelens.records.expired"
| extend Outcome = tostring(Properties.outcome)
| summarize Expired = sumif(Sum, Outcome == "expired"), Errors = sumif(Sum, Outcome == "error")
| where Errors > 0 and Expired == 0
'''

// Azure Monitor validates a log alert's query when the rule is created and refuses one that names a table the
// workspace has never received rows in (SEM0100, "Failed to resolve table or column expression"). A new workspace
// has no AppMetrics until the app code runs (deployed after these templates), no StorageQueueLogs until a queue is
// used and no AzureMetrics until a task starts on the pool, so every rule below skips that validation:
// without that, a first deployment fails at the alerts, before the app that fills AppMetrics is deployed, and so
// does every re-run. Until its tables have rows, a rule's evaluations fail and it fires nothing.
resource poisonAlert 'Microsoft.Insights/scheduledQueryRules@2022-06-15' = {
  name: '${namePrefix}-poison-messages'
  location: location
  tags: tags
  properties: {
    displayName: 'sitelens: messages moved to a poison queue'
    description: 'A queue message failed every attempt and was moved to a -poison queue. Inspect it, fix the cause, then requeue or delete it (docs/deploy.md).'
    severity: 2
    enabled: true
    scopes: [workspaceId]
    skipQueryValidation: true // its tables may not exist yet (above)
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: poisonQuery
          timeAggregation: 'Total'
          metricMeasureColumn: 'Messages'
          dimensions: [
            {
              name: 'Queue'
              operator: 'Include'
              values: ['*']
            }
          ]
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: actionGroups
    }
  }
}

resource failureRateAlert 'Microsoft.Insights/scheduledQueryRules@2022-06-15' = {
  name: '${namePrefix}-job-failure-rate'
  location: location
  tags: tags
  properties: {
    displayName: 'sitelens: job failure rate above ${jobFailurePercent} %'
    description: 'More than ${jobFailurePercent} % of the jobs that finished in the last hour failed. Their failure reason codes are in the status API, in the traces and in the metric sitelens.photos.failed by reason.'
    severity: 2
    enabled: true
    scopes: [workspaceId]
    skipQueryValidation: true // its tables may not exist yet (above)
    evaluationFrequency: 'PT15M'
    windowSize: 'PT1H'
    criteria: {
      allOf: [
        {
          query: failureQuery
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: actionGroups
    }
  }
}

resource recordsAlert 'Microsoft.Insights/scheduledQueryRules@2022-06-15' = {
  name: '${namePrefix}-records-not-expiring'
  location: location
  tags: tags
  properties: {
    displayName: 'sitelens: records past their retention are not being deleted'
    description: 'Record expiry met storage errors and deleted nothing for 6 hours: jobs, their webhook events and feedback are being kept past recordsRetentionDays. The errors are in the warnings of shared.jobs.record_expiry.'
    severity: 3
    enabled: true
    scopes: [workspaceId]
    skipQueryValidation: true // its tables may not exist yet (above)
    evaluationFrequency: 'PT1H'
    windowSize: 'PT6H'
    criteria: {
      allOf: [
        {
          query: recordsQuery
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: actionGroups
    }
  }
}

resource stuckPoolAlert 'Microsoft.Insights/scheduledQueryRules@2022-06-15' = {
  name: '${namePrefix}-pool-not-starting-tasks'
  location: location
  tags: tags
  properties: {
    displayName: 'sitelens: tasks pending and no task started for ${stuckPoolMinutes} minutes'
    description: 'Tasks were submitted but the pool started none for longer than the bound: check the pool\'s allocation state and resize errors, the core quota for its VM family, and start-task failures (docs/deploy.md).'
    severity: 1
    enabled: true
    scopes: [workspaceId]
    skipQueryValidation: true // its tables may not exist yet (above)
    evaluationFrequency: 'PT15M'
    // A literal from the sizes log alerts accept (checked by CKV_SITELENS_11), covering the query's
    // look-back of twice the bound for every allowed bound.
    windowSize: 'PT6H'
    criteria: {
      allOf: [
        {
          query: stuckPoolQuery
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: actionGroups
    }
  }
}

// Failed requests of the app's own code only. Its cloud role is the service name function_app.py gives
// telemetry.setup (batch_tasks/telemetry.py), which the Azure Monitor exporter sends as cloud_RoleName; its
// consumer spans (ingest, complete) are requests, failed only when the handler raised (a FAILED job is a message
// handled). Other roles stay out: the node server's (sitelens-node: node.job fails with each failed inference)
// and the Functions host's own (the app's site name), whose HTTP answers of 400 and up count as failed, and a
// client's 404 is no error of the app. The requests are spans, so trace sampling thins them: the standard
// samplers stamp no sample rate for Application Insights to scale the count by (docs/telemetry.md#sampling).
var appRoleName = 'sitelens-app'

resource functionErrorsAlert 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: '${namePrefix}-function-errors'
  location: 'global'
  tags: tags
  properties: {
    description: 'Photo or completion handling raised in the Functions app (cloud role ${appRoleName}): see its exceptions in Application Insights.'
    severity: 2
    enabled: true
    scopes: [insightsId]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'FailedRequests'
          metricNamespace: 'microsoft.insights/components'
          metricName: 'requests/failed'
          dimensions: [
            {
              name: 'cloud/roleName'
              operator: 'Include'
              values: [appRoleName]
            }
          ]
          operator: 'GreaterThanOrEqual'
          threshold: functionErrorThreshold
          timeAggregation: 'Count'
        }
      ]
    }
    autoMitigate: true
    actions: [for id in actionGroups: {
      actionGroupId: id
    }]
  }
}

// GPU nodes that cost money and do nothing: more nodes than the working-hours floor stayed idle for the whole
// window. That happens when the autoscale formula fails to evaluate (the pool keeps its last target), when
// the floor or its hours are not what was meant, or when scale-down is stuck. A metric alert, not a log one:
// the Batch account's node-count metrics (IdleNodeCount ...) are not exported by diagnostic settings, so they
// never reach AzureMetrics, and TaskStartEvent is written only when a task starts, so "no task started"
// would be no data, which a metric alert does not evaluate. The metrics have no pool dimension: the account
// holds this one pool. Minimum over the window: idle at every one-minute sample, so a burst that ran on the
// nodes resets it. Nodes up to minNodesAtWork are not counted at any hour: the formula keeps them through
// working hours, and a metric alert cannot tell the hours apart (docs/deploy.md says what that misses).
resource idleNodesAlert 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: '${namePrefix}-gpu-nodes-idle'
  location: 'global'
  tags: tags
  properties: {
    description: 'More than ${minNodesAtWork} GPU node(s) (the working-hours floor, minNodesAtWork) stayed idle for ${idleNodeHours} hour(s): check the pool\'s autoscale run for an evaluation error and its target, and its nodes\' states (docs/deploy.md).'
    severity: 2
    enabled: true
    scopes: [batchAccountId]
    evaluationFrequency: 'PT15M'
    // PT1H, PT6H, PT12H or PT24H: idleNodeHours allows only the hours that are metric alert windows.
    windowSize: 'PT${idleNodeHours}H'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'IdleNodesAboveFloor'
          metricNamespace: 'Microsoft.Batch/batchAccounts'
          metricName: 'IdleNodeCount'
          operator: 'GreaterThan'
          threshold: minNodesAtWork
          timeAggregation: 'Minimum'
        }
      ]
    }
    autoMitigate: true
    actions: [for id in actionGroups: {
      actionGroupId: id
    }]
  }
}

// A photo whose BlobCreated event never reached the app has no job, so neither the reconciler nor any other
// alert sees it. Event Grid dead-letters an event to eventgrid-deadletter after the subscription's 30 attempts
// or 24 hours, and at once, without a retry, when the webhook answers 400, 401, 403 or 413: a regenerated
// blobs_extension key (401) or a stopped app (403) dead-letters every photo uploaded from then on. A
// dead-lettered event can be replayed (docs/deploy.md). One Event Grid could not write there either (the
// container or the topic's role on it gone) is dropped: nothing is left of it. Both counts are the system
// topic's metrics, and a single event counts. Two alerts, because the criteria of one metric alert must all
// hold at once. Split by subscription and reason ('*', which also spares matching the subscription's name in
// the case Event Grid reports it), so each notification names both.
resource deadLetteredAlert 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: '${namePrefix}-photo-events-dead-lettered'
  location: 'global'
  tags: tags
  properties: {
    description: 'Event Grid dead-lettered BlobCreated event(s) of photos/: those photos have no job and are not processed. List the eventgrid-deadletter container (deadLetterReason), fix the cause (the subscription\'s delivery failures, the blobs_extension key, the app\'s state), then replay them (docs/deploy.md).'
    severity: 2
    enabled: true
    scopes: [eventGridTopicId]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'DeadLetteredEvents'
          metricNamespace: 'Microsoft.EventGrid/systemTopics'
          metricName: 'DeadLetteredCount'
          dimensions: [
            {
              name: 'EventSubscriptionName'
              operator: 'Include'
              values: ['*']
            }
            {
              name: 'DeadLetterReason'
              operator: 'Include'
              values: ['*']
            }
          ]
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Total'
        }
      ]
    }
    autoMitigate: true
    actions: [for id in actionGroups: {
      actionGroupId: id
    }]
  }
}

resource droppedEventsAlert 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: '${namePrefix}-photo-events-dropped'
  location: 'global'
  tags: tags
  properties: {
    description: 'Event Grid dropped BlobCreated event(s) of photos/ (DropReason): not delivered and not dead-lettered, so nothing is left to replay, and their photos have no job. Check the eventgrid-deadletter container and the topic identity\'s role on it, and the subscription\'s dead-letter settings; the photos uploaded then without a job must be found in photos/ (docs/deploy.md).'
    severity: 1
    enabled: true
    scopes: [eventGridTopicId]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'DroppedEvents'
          metricNamespace: 'Microsoft.EventGrid/systemTopics'
          metricName: 'DroppedEventCount'
          dimensions: [
            {
              name: 'EventSubscriptionName'
              operator: 'Include'
              values: ['*']
            }
            {
              name: 'DropReason'
              operator: 'Include'
              values: ['*']
            }
          ]
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Total'
        }
      ]
    }
    autoMitigate: true
    actions: [for id in actionGroups: {
      actionGroupId: id
    }]
  }
}

output alertNames array = [
  poisonAlert.name
  failureRateAlert.name
  recordsAlert.name
  stuckPoolAlert.name
  functionErrorsAlert.name
  idleNodesAlert.name
  deadLetteredAlert.name
  droppedEventsAlert.name
]
