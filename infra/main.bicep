// AVD Image Lifecycle: every Azure resource the app needs, azd-compatible.
// Deployed at subscription scope because it creates two resource groups (the app's and
// the image resource group) and the custom role definitions.
targetScope = 'subscription'

@description('azd environment name; names and tags every resource.')
@minLength(1)
@maxLength(64)
param environmentName string

@description('Azure region of every regional resource.')
param location string

@description('Resource group for the app (Function App, storage, Service Bus, monitoring). Default: rg-<env>.')
param resourceGroupName string = ''

@description('Resource group for the gallery and the build VMs; the app\'s custom role applies here only. Must differ from the app resource group. Default: rg-<env>-images.')
param imageResourceGroupName string = ''

@description('Name of the Azure Compute Gallery. Default: gal_<env>_<token>.')
param galleryName string = ''

@description('NCRONTAB schedule of the rebuild timer (seconds first).')
param rebuildSchedule string = '0 0 6 * * *'

@description('NCRONTAB schedule of the sweeper that removes expired temporary resources.')
param sweepSchedule string = '0 30 * * * *'

@description('Create the Event Grid subscription to arm_events. ARM rejects it before the function code is deployed, so azd\'s first provision passes false and the postdeploy hook provisions again with true.')
param eventSubscriptionEnabled bool = false

@description('Create and assign the subscription-scoped reader role (role-actions.json subscriptionActions): async-operation polls and marketplace versions, which ARM serves under /subscriptions/<id>/providers/.../locations, and the subscription-wide VM and scale set lists that keep in-use image versions from being pruned. With false, grant those actions at subscription scope another way, or polling, builds and prune fail with 403.')
param grantSubscriptionReads bool = true

@description('Optional principal id of the operator who runs avdimage and handles dead letters (azd sets AZURE_PRINCIPAL_ID); empty for none.')
param operatorPrincipalId string = ''

@description('Principal type of the operator.')
@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param operatorPrincipalType string = 'User'

@description('Resource groups of the AVD host pools the catalog lists (and their session host VMs). The host pool operator role (role-actions.json hostPoolActions) is created assignable there only and assigned to the app identity in each; empty for no host pool rollouts.')
param hostPoolResourceGroupNames array = []

@description('Maximum number of Function App instances.')
param maximumInstanceCount int = 40

@description('Client id of the app registration that approvals use as audience and the status page signs in with (docs/deploy.md, "Approvals: the app registration"); empty until it exists: approvals are then refused with that reason.')
param approvalsClientId string = ''

@description('Object id of the Entra group whose members may read the status page; with approvalsClientId it turns on App Service Authentication.')
param statusReadersGroupId string = ''

var tags = {
  'azd-env-name': environmentName
  workload: 'avd-image-lifecycle'
}
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var appResourceGroupName = !empty(resourceGroupName) ? resourceGroupName : 'rg-${environmentName}'
var imagesResourceGroupName = !empty(imageResourceGroupName) ? imageResourceGroupName : 'rg-${environmentName}-images'
var computeGalleryName = !empty(galleryName) ? galleryName : 'gal_${replace(replace(environmentName, '-', '_'), '.', '_')}_${resourceToken}'
var tableName = 'imagelifecycle'
var functionAppName = 'func-${resourceToken}'
var deploymentContainerName = 'app-package-${take(functionAppName, 32)}'
var deadLetterContainerName = 'eventgrid-deadletter'

// The ARM actions the app performs, split by the scope ARM authorizes them at: `actions`
// on the image resource group, `subscriptionActions` on paths outside any resource group.
// tests/infra/test_least_privilege.py runs the product on the simulator and fails when the
// app uses an action these lists lack, or when they grant one the app does not use.
var roleActions = loadJsonContent('role-actions.json')

resource appResourceGroup 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: appResourceGroupName
  location: location
  tags: tags
}

resource imageResourceGroup 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: imagesResourceGroupName
  location: location
  tags: tags
}

resource imageOperatorRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, environmentName, 'avd-image-lifecycle-operator')
  properties: {
    roleName: 'AVD Image Lifecycle Operator (${environmentName}, ${take(resourceToken, 6)})'
    description: 'Build, clone, sysprep, capture, replicate and prune AVD images in one resource group.'
    type: 'CustomRole'
    permissions: [
      {
        actions: roleActions.actions
        notActions: roleActions.notActions
      }
    ]
    assignableScopes: [
      imageResourceGroup.id
    ]
  }
}

// The guid seed keeps its earlier name so that existing deployments update the role in place.
resource subscriptionReaderRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = if (grantSubscriptionReads) {
  name: guid(subscription().id, environmentName, 'avd-image-lifecycle-location-reader')
  properties: {
    roleName: 'AVD Image Lifecycle Subscription Reader (${environmentName}, ${take(resourceToken, 6)})'
    description: 'Read async-operation status, marketplace image versions, and the VMs and scale sets that use gallery image versions (subscription-level reads only).'
    type: 'CustomRole'
    permissions: [
      {
        actions: roleActions.subscriptionActions
        notActions: []
      }
    ]
    assignableScopes: [
      subscription().id
    ]
  }
}

// Rolling re-image of host pools: drain, message and sign off users, recreate the session host
// VMs from the production version, register them; only in the host pools' resource groups.
resource hostPoolOperatorRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = if (!empty(hostPoolResourceGroupNames)) {
  name: guid(subscription().id, environmentName, 'avd-image-lifecycle-hostpool-operator')
  properties: {
    roleName: 'AVD Image Lifecycle Host Pool Operator (${environmentName}, ${take(resourceToken, 6)})'
    description: 'Drain session hosts, message and sign off their users, recreate their VMs from a gallery version and register them with the host pool.'
    type: 'CustomRole'
    permissions: [
      {
        actions: roleActions.hostPoolActions
        notActions: []
      }
    ]
    assignableScopes: [for name in hostPoolResourceGroupNames: '${subscription().id}/resourceGroups/${name}']
  }
}

module appIdentity 'modules/identity.bicep' = {
  name: 'app-identity'
  scope: appResourceGroup
  params: {
    name: 'id-${resourceToken}'
    location: location
    tags: tags
  }
}

module eventGridIdentity 'modules/identity.bicep' = {
  name: 'eventgrid-identity'
  scope: appResourceGroup
  params: {
    name: 'id-eg-${resourceToken}'
    location: location
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: appResourceGroup
  params: {
    logAnalyticsName: 'log-${resourceToken}'
    applicationInsightsName: 'appi-${resourceToken}'
    location: location
    tags: tags
    publisherPrincipalId: appIdentity.outputs.principalId
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: appResourceGroup
  params: {
    name: 'st${resourceToken}'
    location: location
    tags: tags
    tableName: tableName
    deploymentContainerName: deploymentContainerName
    deadLetterContainerName: deadLetterContainerName
    appPrincipalId: appIdentity.outputs.principalId
    eventGridPrincipalId: eventGridIdentity.outputs.principalId
    operatorPrincipalId: operatorPrincipalId
    operatorPrincipalType: operatorPrincipalType
  }
}

module serviceBus 'modules/servicebus.bicep' = {
  name: 'servicebus'
  scope: appResourceGroup
  params: {
    name: 'sb-${resourceToken}'
    location: location
    tags: tags
    appPrincipalId: appIdentity.outputs.principalId
    operatorPrincipalId: operatorPrincipalId
    operatorPrincipalType: operatorPrincipalType
  }
}

module gallery 'modules/gallery.bicep' = {
  name: 'gallery'
  scope: imageResourceGroup
  params: {
    name: computeGalleryName
    location: location
    tags: tags
  }
}

module imageAccess 'modules/image-rg-access.bicep' = {
  name: 'image-rg-access'
  scope: imageResourceGroup
  params: {
    principalId: appIdentity.outputs.principalId
    roleDefinitionId: imageOperatorRole.id
  }
}

module hostPoolAccess 'modules/hostpool-access.bicep' = [for name in hostPoolResourceGroupNames: {
  name: 'hostpool-access-${uniqueString(name)}'
  scope: resourceGroup(name)
  params: {
    principalId: appIdentity.outputs.principalId
    roleDefinitionId: hostPoolOperatorRole.id
  }
}]

resource subscriptionReaderAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (grantSubscriptionReads) {
  name: guid(subscription().id, environmentName, 'avd-image-lifecycle-location-reader', 'assignment')
  properties: {
    principalId: appIdentity.outputs.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionReaderRole.id
    description: 'AVD Image Lifecycle: async-operation polling, marketplace image lookups and in-use checks before pruning.'
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  scope: appResourceGroup
  params: {
    name: functionAppName
    planName: 'plan-${resourceToken}'
    location: location
    tags: tags
    identityId: appIdentity.outputs.id
    identityClientId: appIdentity.outputs.clientId
    storageAccountName: storage.outputs.name
    storageBlobEndpoint: storage.outputs.blobEndpoint
    deploymentContainerName: storage.outputs.deploymentContainerName
    tablesEndpoint: storage.outputs.tableEndpoint
    tableName: tableName
    serviceBusFullyQualifiedNamespace: serviceBus.outputs.fullyQualifiedNamespace
    applicationInsightsConnectionString: monitoring.outputs.connectionString
    imageSubscriptionId: subscription().subscriptionId
    imageResourceGroupName: imageResourceGroup.name
    galleryName: gallery.outputs.name
    rebuildSchedule: rebuildSchedule
    sweepSchedule: sweepSchedule
    maximumInstanceCount: maximumInstanceCount
    entraTenantId: tenant().tenantId
    approvalsClientId: approvalsClientId
    statusReadersGroupId: statusReadersGroupId
  }
}

module easyAuth 'modules/easyauth.bicep' = if (!empty(approvalsClientId) && !empty(statusReadersGroupId)) {
  name: 'easyauth'
  scope: appResourceGroup
  params: {
    functionAppName: functionApp.outputs.name
    tenantId: tenant().tenantId
    clientId: approvalsClientId
    readersGroupId: statusReadersGroupId
  }
}

module eventGrid 'modules/eventgrid.bicep' = {
  name: 'eventgrid'
  scope: imageResourceGroup
  params: {
    name: 'evgt-${resourceToken}'
    tags: tags
    functionAppId: functionApp.outputs.id
    subscriptionEnabled: eventSubscriptionEnabled
    deadLetterIdentityId: eventGridIdentity.outputs.id
    deadLetterStorageAccountId: storage.outputs.id
    deadLetterContainerName: storage.outputs.deadLetterContainerName
  }
}

// azd writes these into .azure/<env>/.env; the avdimage CLI and docs/deploy.md use them.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = appResourceGroup.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output AZURE_CLIENT_ID string = appIdentity.outputs.clientId
output AVD_SUBSCRIPTION_ID string = subscription().subscriptionId
output AVD_IMAGE_RESOURCE_GROUP string = imageResourceGroup.name
output AVD_GALLERY_NAME string = gallery.outputs.name
output AVD_TABLES_ENDPOINT string = storage.outputs.tableEndpoint
output AVD_TABLE_NAME string = tableName
output AVD_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AVD_DEAD_LETTER_CONTAINER string = deadLetterContainerName
output AVD_SERVICE_BUS_NAMESPACE string = serviceBus.outputs.fullyQualifiedNamespace
output AVD_EVENT_GRID_SYSTEM_TOPIC string = eventGrid.outputs.systemTopicName
