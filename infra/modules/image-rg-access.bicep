// Grants the app's custom role to its identity on the image resource group only: the
// VMs, disks, snapshots, NICs and gallery the app manages all live there.

@description('Principal id of the app identity.')
param principalId string

@description('Resource id of the custom role definition (AVD Image Lifecycle Operator).')
param roleDefinitionId string

resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(resourceGroup().id, principalId, roleDefinitionId)
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: roleDefinitionId
    description: 'AVD Image Lifecycle: build, capture, replicate and prune images in this resource group.'
  }
}

output id string = assignment.id
