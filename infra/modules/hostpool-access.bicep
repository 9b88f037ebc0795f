// Grants the host pool operator role to the app identity in one host pool resource group:
// the pool, its session hosts and their VMs, disks and NICs live there.

@description('Principal id of the app identity.')
param principalId string

@description('Resource id of the custom role definition (AVD Image Lifecycle Host Pool Operator).')
param roleDefinitionId string

resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(resourceGroup().id, principalId, roleDefinitionId)
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: roleDefinitionId
    description: 'AVD Image Lifecycle: roll this resource group\'s host pools onto new image versions.'
  }
}

output id string = assignment.id
