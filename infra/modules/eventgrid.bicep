// Event Grid system topic on the image resource group and the subscription that delivers
// ARM events for VMs, disks, snapshots and gallery image versions to the app's `arm_events` function.
// ARM has no dedicated compute or gallery event types: the generic Resource*Success and
// Resource*Failure events are filtered on data.operationName.

@description('Name of the system topic.')
param name string

@description('Tags for the topic.')
param tags object = {}

@description('Resource id of the Function App hosting the arm_events function.')
param functionAppId string

@description('Name of the Event Grid-triggered function.')
param functionName string = 'arm_events'

@description('Create the event subscription. ARM validates that the function exists, so the first provision (before any code is deployed) leaves it out; the postdeploy hook turns it on.')
param subscriptionEnabled bool = true

@description('Resource id of the user-assigned identity Event Grid uses to write dead letters.')
param deadLetterIdentityId string

@description('Resource id of the storage account receiving dead letters.')
param deadLetterStorageAccountId string

@description('Blob container receiving dead letters.')
param deadLetterContainerName string

@description('Delivery attempts before an event is dead-lettered.')
@minValue(1)
@maxValue(30)
param maxDeliveryAttempts int = 30

@description('Minutes an event is retried before it is dead-lettered.')
@minValue(1)
@maxValue(1440)
param eventTimeToLiveInMinutes int = 1440

var includedEventTypes = [
  'Microsoft.Resources.ResourceWriteSuccess'
  'Microsoft.Resources.ResourceWriteFailure'
  'Microsoft.Resources.ResourceActionSuccess'
  'Microsoft.Resources.ResourceActionFailure'
  'Microsoft.Resources.ResourceDeleteSuccess'
  'Microsoft.Resources.ResourceDeleteFailure'
]

// Exactly the operations shared/steps/events.py routes (ROUTED_OPERATIONS); the test
// tests/infra/test_event_filter.py fails when the two differ. Event Grid compares strings
// case-insensitively (Learn: "Understand event filtering for Event Grid subscriptions"), and
// allows 25 values across advanced filters: 15 are used.
var routedOperations = [
  'Microsoft.Compute/virtualMachines/write'
  'Microsoft.Compute/virtualMachines/delete'
  'Microsoft.Compute/virtualMachines/deallocate/action'
  'Microsoft.Compute/virtualMachines/start/action'
  'Microsoft.Compute/virtualMachines/powerOff/action'
  'Microsoft.Compute/virtualMachines/runCommand/action'
  'Microsoft.Compute/virtualMachines/runCommands/write'
  'Microsoft.Compute/virtualMachines/extensions/write'
  'Microsoft.Compute/disks/write'
  'Microsoft.Compute/disks/delete'
  'Microsoft.Compute/snapshots/write'
  'Microsoft.Compute/snapshots/delete'
  'Microsoft.Compute/galleries/images/versions/write'
  'Microsoft.Compute/galleries/images/versions/delete'
  'Microsoft.Network/networkInterfaces/write'
]

resource systemTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' = {
  name: name
  location: 'global'
  tags: tags
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${deadLetterIdentityId}': {}
    }
  }
  properties: {
    source: resourceGroup().id
    topicType: 'Microsoft.Resources.ResourceGroups'
  }
}

resource armEvents 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = if (subscriptionEnabled) {
  parent: systemTopic
  name: 'arm-events-to-function'
  properties: {
    eventDeliverySchema: 'EventGridSchema'
    destination: {
      endpointType: 'AzureFunction'
      properties: {
        resourceId: '${functionAppId}/functions/${functionName}'
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    filter: {
      includedEventTypes: includedEventTypes
      enableAdvancedFilteringOnArrays: true
      advancedFilters: [
        {
          operatorType: 'StringIn'
          key: 'data.operationName'
          values: routedOperations
        }
      ]
    }
    retryPolicy: {
      maxDeliveryAttempts: maxDeliveryAttempts
      eventTimeToLiveInMinutes: eventTimeToLiveInMinutes
    }
    deadLetterWithResourceIdentity: {
      identity: {
        type: 'UserAssigned'
        userAssignedIdentity: deadLetterIdentityId
      }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: deadLetterStorageAccountId
          blobContainerName: deadLetterContainerName
        }
      }
    }
  }
}

output systemTopicName string = systemTopic.name
output eventSubscriptionName string = subscriptionEnabled ? armEvents.name : ''
