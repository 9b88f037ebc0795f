// App Service Authentication ("Easy Auth", authsettingsV2) on the Function App: the status page
// needs an Entra ID sign-in by a member of the readers group (defaultAuthorizationPolicy
// .allowedPrincipals.groups checks the token's groups claim). Automation keeps the function
// key: the JSON API and the Event Grid webhook are excluded paths, where the Functions host
// checks keys as before. Sources: REST spec Microsoft.Web SiteAuthSettingsV2 (globalValidation,
// identityProviders.azureActiveDirectory, defaultAuthorizationPolicy); Microsoft Learn "Configure
// your App Service or Azure Functions app to use Microsoft Entra sign-in".

@description('Name of the Function App.')
param functionAppName string

@description('Tenant of the app registration.')
param tenantId string

@description('Client id of the app registration (the same one approvals use as audience).')
param clientId string

@description('Object id of the Entra security group whose members may read the status page.')
param readersGroupId string

resource functionApp 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

resource authSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  // checkov:skip=CKV_AZURE_13:This IS the App Service Authentication setting; checkov reads it as a site without auth properties.
  // checkov:skip=CKV_AZURE_63:HTTP logging is a site property; this resource is the authsettingsV2 child of the function app, not a site.
  // checkov:skip=CKV_AZURE_65:Detailed error messages are a site property; this resource is the authsettingsV2 child, not a site.
  // checkov:skip=CKV_AZURE_66:Failed request tracing is a site property; this resource is the authsettingsV2 child, not a site.
  // checkov:skip=CKV_AZURE_80:The .NET version check does not apply: the app is Python and this resource is the authsettingsV2 child.
  // checkov:skip=CKV_AZURE_88:Azure Files storage is a site property; this resource is the authsettingsV2 child of the function app.
  // checkov:skip=CKV_AZURE_222:Public network access is decided on the site (functionapp.bicep, justified there), not on authsettingsV2.
  parent: functionApp
  name: 'authsettingsV2'
  properties: {
    platform: {
      enabled: true
    }
    globalValidation: {
      requireAuthentication: true
      unauthenticatedClientAction: 'RedirectToLoginPage'
      redirectToProvider: 'azureactivedirectory'
      excludedPaths: [
        '/api/catalog'
        '/api/workloads/*'
        '/runtime/webhooks/eventgrid'
      ]
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: clientId
          openIdIssuer: '${environment().authentication.loginEndpoint}${tenantId}/v2.0'
        }
        validation: {
          allowedAudiences: [
            clientId
            'api://${clientId}'
          ]
          defaultAuthorizationPolicy: {
            allowedPrincipals: {
              groups: [
                readersGroupId
              ]
            }
          }
        }
      }
    }
    login: {
      tokenStore: {
        enabled: false
      }
    }
    httpSettings: {
      requireHttps: true
    }
  }
}
