// Service Bus namespace with the two queues the app consumes. Local (SAS) authentication is
// disabled: senders and receivers need an Entra ID token and an Azure Service Bus Data role.

@description('Name of the namespace.')
param name string

@description('Azure region.')
param location string

@description('Tags for the namespace.')
param tags object = {}

@description('Queue of pipeline step commands (one session per workload).')
param stepQueueName string = 'image-steps'

@description('Queue on which approval systems post promotion requests.')
param approvalQueueName string = 'image-approvals'

@description('Principal id of the app identity, granted Data Receiver and Data Sender.')
param appPrincipalId string

@description('Optional principal id of a human operator (dead-letter inspection and resubmission); empty for none.')
param operatorPrincipalId string = ''

@description('Principal type of the operator.')
@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param operatorPrincipalType string = 'User'

// Built-in role ids: tests/infra/test_role_guids.py checks each against Microsoft Learn.
var serviceBusDataReceiverRoleId = '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0' // Azure Service Bus Data Receiver
var serviceBusDataSenderRoleId = '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39' // Azure Service Bus Data Sender

resource namespace 'Microsoft.ServiceBus/namespaces@2022-10-01-preview' = {
  // Standard tier: sessions and duplicate detection at low cost. Premium-only features
  // (private endpoints, customer-managed keys, double encryption) are not used, so the
  // namespace is public; with local auth disabled every call needs an Entra ID token.
  name: name
  location: location
  tags: tags
  sku: {
    name: 'Standard'
    tier: 'Standard'
  }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
  }
}

// Deterministic message ids ({run_id}:{step}:{attempt}) + duplicate detection make
// at-least-once delivery safe; one session per workload keeps its steps in order.
resource stepQueue 'Microsoft.ServiceBus/namespaces/queues@2022-10-01-preview' = {
  parent: namespace
  name: stepQueueName
  properties: {
    requiresSession: true
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: 'PT1H'
    maxDeliveryCount: 10
    lockDuration: 'PT5M'
    deadLetteringOnMessageExpiration: true
    defaultMessageTimeToLive: 'P14D'
    enableBatchedOperations: true
  }
}

resource approvalQueue 'Microsoft.ServiceBus/namespaces/queues@2022-10-01-preview' = {
  parent: namespace
  name: approvalQueueName
  properties: {
    requiresSession: false
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: 'P1D'
    maxDeliveryCount: 5
    lockDuration: 'PT1M'
    deadLetteringOnMessageExpiration: true
    defaultMessageTimeToLive: 'P7D'
    enableBatchedOperations: true
  }
}

resource appReceiver 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(namespace.id, appPrincipalId, serviceBusDataReceiverRoleId)
  scope: namespace
  properties: {
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataReceiverRoleId)
  }
}

resource appSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(namespace.id, appPrincipalId, serviceBusDataSenderRoleId)
  scope: namespace
  properties: {
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataSenderRoleId)
  }
}

resource operatorReceiver 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(operatorPrincipalId)) {
  name: guid(namespace.id, operatorPrincipalId, serviceBusDataReceiverRoleId)
  scope: namespace
  properties: {
    principalId: operatorPrincipalId
    principalType: operatorPrincipalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataReceiverRoleId)
  }
}

resource operatorSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(operatorPrincipalId)) {
  name: guid(namespace.id, operatorPrincipalId, serviceBusDataSenderRoleId)
  scope: namespace
  properties: {
    principalId: operatorPrincipalId
    principalType: operatorPrincipalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataSenderRoleId)
  }
}

output id string = namespace.id
output name string = namespace.name
// Host name only (sb-abc.servicebus.windows.net), the form the Functions extension expects;
// taken from the endpoint (https://<host>:443/) so sovereign clouds get their own suffix.
output fullyQualifiedNamespace string = split(replace(namespace.properties.serviceBusEndpoint, 'https://', ''), ':')[0]
output stepQueueName string = stepQueue.name
output approvalQueueName string = approvalQueue.name
