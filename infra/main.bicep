// CSPBridge on Azure: one resource group with everything the Function App needs.
// Deployed by `azd up` (azure.yaml) or `az deployment sub create -f infra/main.bicep`.
// The Bicep compiler is not available on the development machines, so this file is kept plain and is
// checked by tests/unit/test_infra_consistency.py (settings, queue names) rather than compiled in CI.
targetScope = 'subscription'

@minLength(1)
@maxLength(40)
@description('azd environment name; used to derive resource names.')
param environmentName string

@description('Azure region for every resource (must offer Flex Consumption).')
param location string

@description('Object id of the admin running the deployment; gets Key Vault Secrets Officer to set the secrets.')
param principalId string = ''

@description('Dataverse environment URL, e.g. https://contoso.crm.dynamics.com')
param dataverseUrl string

@description('Entra tenant id of the partner.')
param tenantId string = tenant().tenantId

@description('App registration used for Partner Center App+User (secure application model).')
param partnerCenterClientId string = ''

@description('App registration used for portal sign-in (Entra ID).')
param portalClientId string = ''

@description('Mailbox invoices and reminders are sent from (Graph sendMail; the app needs Mail.Send).')
param mailFrom string = ''

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName, app: 'cspbridge' }

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-cspbridge-${environmentName}'
  location: location
  tags: tags
}

module resources 'resources.bicep' = {
  name: 'cspbridge-resources'
  scope: rg
  params: {
    location: location
    tags: tags
    resourceToken: resourceToken
    principalId: principalId
    dataverseUrl: dataverseUrl
    tenantId: tenantId
    partnerCenterClientId: partnerCenterClientId
    portalClientId: portalClientId
    mailFrom: mailFrom
  }
}

output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = resources.outputs.functionAppName
output AZURE_FUNCTION_URL string = resources.outputs.functionAppUrl
output AZURE_KEY_VAULT_URL string = resources.outputs.keyVaultUrl
output AZURE_SERVICEBUS_NAMESPACE string = resources.outputs.serviceBusNamespace
output AZURE_MANAGED_IDENTITY_CLIENT_ID string = resources.outputs.identityClientId
