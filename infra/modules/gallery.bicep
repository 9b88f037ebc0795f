// The Azure Compute Gallery that holds one image definition per workload and its versions.
// It lives in the image resource group, where the app's custom role applies.

@description('Name of the gallery (letters, digits, underscores and periods).')
param name string

@description('Azure region.')
param location string

@description('Tags for the gallery.')
param tags object = {}

resource gallery 'Microsoft.Compute/galleries@2023-07-03' = {
  name: name
  location: location
  tags: tags
  properties: {
    description: 'AVD golden images: one definition per workload, immutable versions promoted test -> validation -> production.'
  }
}

output id string = gallery.id
output name string = gallery.name
