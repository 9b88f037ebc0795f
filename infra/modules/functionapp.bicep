// The Function App on Flex Consumption (FC1), Python 3.11. It runs as the user-assigned
// identity for everything: the host's storage, the deployment package, Service Bus,
// Table Storage, Application Insights and ARM. No key or connection string is stored.

@description('Name of the Function App.')
param name string

@description('Name of the Flex Consumption plan.')
param planName string

@description('Azure region.')
param location string

@description('Tags for the resources; the app also gets azd-service-name.')
param tags object = {}

@description('azd service name of this app (azure.yaml).')
param serviceName string = 'api'

@description('Resource id of the user-assigned identity the app runs as.')
param identityId string

@description('Client id of that identity.')
param identityClientId string

@description('Name of the storage account for AzureWebJobsStorage.')
param storageAccountName string

@description('Blob endpoint of that account (https://<account>.blob.<suffix>/).')
param storageBlobEndpoint string

@description('Container holding the deployment package.')
param deploymentContainerName string

@description('Table endpoint, without a trailing slash.')
param tablesEndpoint string

@description('Table name.')
param tableName string

@description('Service Bus host name (<namespace>.servicebus.windows.net).')
param serviceBusFullyQualifiedNamespace string

@description('Application Insights connection string (not a secret: local auth is disabled on the component).')
param applicationInsightsConnectionString string

@description('Subscription holding the image resource group.')
param imageSubscriptionId string

@description('Resource group holding the gallery and the build VMs.')
param imageResourceGroupName string

@description('Name of the Azure Compute Gallery.')
param galleryName string

@description('Folder of workload TOML files, relative to the app root.')
param catalogPath string = 'catalog'

@description('NCRONTAB schedule of the rebuild timer.')
param rebuildSchedule string

@description('NCRONTAB schedule of the sweeper timer.')
param sweepSchedule string

@description('Maximum number of instances the app scales out to.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Memory of each instance in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Tenant whose tokens approvals accept.')
param entraTenantId string

@description('Client id of the approvals app registration (the audience of approval tokens); empty refuses approvals with the reason.')
param approvalsClientId string = ''

@description('Object id of the status page readers group; set together with App Service Authentication (easyauth.bicep).')
param statusReadersGroupId string = ''

// The exact list of settings the app reads; infra/app-settings.json mirrors these names
// (tests/infra checks that they stay identical).
var appSettings = {
  AzureWebJobsStorage__accountName: storageAccountName
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  ServiceBusConnection__fullyQualifiedNamespace: serviceBusFullyQualifiedNamespace
  ServiceBusConnection__credential: 'managedidentity'
  ServiceBusConnection__clientId: identityClientId
  AZURE_CLIENT_ID: identityClientId
  AVD_SUBSCRIPTION_ID: imageSubscriptionId
  AVD_TABLES_ENDPOINT: tablesEndpoint
  AVD_TABLE_NAME: tableName
  AVD_CATALOG_PATH: catalogPath
  AVD_IMAGE_RESOURCE_GROUP: imageResourceGroupName
  AVD_GALLERY_NAME: galleryName
  AVD_REBUILD_SCHEDULE: rebuildSchedule
  AVD_SWEEP_SCHEDULE: sweepSchedule
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  AVD_ENTRA_TENANT_ID: entraTenantId
  AVD_APPROVALS_CLIENT_ID: approvalsClientId
  AVD_STATUS_READERS_GROUP: statusReadersGroupId
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225:Zone-redundant Flex Consumption is offered only in some regions; the app is asynchronous and idempotent, so a zone outage delays queued steps rather than losing them.
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_212:Flex Consumption has no fixed instance count; it scales per trigger from zero, and pending work waits durably in Service Bus, so no warm failover instance is needed.
  // checkov:skip=CKV_AZURE_213:Health check probes an HTTP path on dedicated instances; this app serves no HTTP API and Flex Consumption instances are replaced by the platform.
  // checkov:skip=CKV_AZURE_17:Client certificates would block Event Grid's webhook delivery, which cannot present one.
  // checkov:skip=CKV_AZURE_222:Event Grid delivers ARM events to the arm_events webhook over the public endpoint; this deployment has no VNet integration.
  name: name
  location: location
  tags: union(tags, {
    'azd-service-name': serviceName
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    publicNetworkAccess: 'Enabled'
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      remoteDebuggingEnabled: false
      appSettings: [for setting in items(appSettings): {
        name: setting.key
        value: setting.value
      }]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storageBlobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

// Deployments go through Entra ID (azd, az functionapp deployment); basic (publishing
// profile) credentials are switched off for both FTP and SCM.
resource ftpCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'scm'
  properties: {
    allow: false
  }
}

output id string = functionApp.id
output name string = functionApp.name
output defaultHostName string = functionApp.properties.defaultHostName
output appSettingNames array = [for setting in items(appSettings): setting.key]
