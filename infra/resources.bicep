// The CSPBridge resources inside one resource group. See main.bicep for the parameters' meaning.
param location string
param tags object
param resourceToken string
param principalId string
param dataverseUrl string
param tenantId string
param partnerCenterClientId string
param portalClientId string
param mailFrom string

// One home for the queue names: they must match the triggers in functions/ and shared/queue.py
// (tests/unit/test_infra_consistency.py checks that they agree).
var provisioningQueueName = 'cspb-provisioning'
var subscriptionSyncQueueName = 'cspb-subscription-sync'
var catalogSyncQueueName = 'cspb-catalog-sync'
var billingQueueName = 'cspb-billing'
var queueNames = [provisioningQueueName, subscriptionSyncQueueName, catalogSyncQueueName, billingQueueName]
var blobContainerName = 'cspbridge'
var deploymentContainerName = 'app-package'
// The Function App's scale limit; CSPB_MAX_INSTANCES tells each instance its share of Dataverse's 52 concurrent requests.
var maxInstances = 40

// Built-in role definition ids (Azure RBAC).
var roles = {
  serviceBusDataSender: '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'
  serviceBusDataReceiver: '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0'
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-cspbridge-${resourceToken}'
  location: location
  tags: tags
}

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: 'log-cspbridge-${resourceToken}'
  location: location
  tags: tags
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: 30
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-cspbridge-${resourceToken}'
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logs.id
    DisableLocalAuth: true
  }
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: 'stcspb${resourceToken}'
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: { name: 'Standard_LRS' }
  properties: {
    minimumTlsVersion: 'TLS1_2'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    supportsHttpsTrafficOnly: true
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource reconContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: blobContainerName
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
}

resource serviceBus 'Microsoft.ServiceBus/namespaces@2022-10-01-preview' = {
  name: 'sb-cspbridge-${resourceToken}'
  location: location
  tags: tags
  // Duplicate detection needs Standard or Premium.
  sku: { name: 'Standard', tier: 'Standard' }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
  }
}

resource queues 'Microsoft.ServiceBus/namespaces/queues@2022-10-01-preview' = [for name in queueNames: {
  parent: serviceBus
  name: name
  properties: {
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: 'PT1H'
    maxDeliveryCount: 5
    deadLetteringOnMessageExpiration: true
    lockDuration: 'PT5M'
    defaultMessageTimeToLive: 'P7D'
  }
}]

resource keyVault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: 'kv-cspb-${resourceToken}'
  location: location
  tags: tags
  properties: {
    tenantId: tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 30
    enablePurgeProtection: true
  }
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: 'plan-cspbridge-${resourceToken}'
  location: location
  tags: tags
  kind: 'functionapp'
  sku: { name: 'FC1', tier: 'FlexConsumption' }
  properties: { reserved: true }
}

// Secrets live in Key Vault; the app reads them through Key Vault references resolved with the managed
// identity. Set their values once with `az keyvault secret set` (README, "Deploying").
var kvRef = '@Microsoft.KeyVault(SecretUri=${keyVault.properties.vaultUri}secrets/'
var secretSettings = {
  CSPB_WEBHOOK_KEY: '${kvRef}webhook-key/)'
  CSPB_PC_CLIENT_SECRET: '${kvRef}pc-client-secret/)'
  CSPB_PAX8_CLIENT_SECRET: '${kvRef}pax8-client-secret/)'
  CSPB_STRIPE_API_KEY: '${kvRef}stripe-api-key/)'
  CSPB_STRIPE_WEBHOOK_SECRET: '${kvRef}stripe-webhook-secret/)'
  CSPB_AUTHORIZENET_TRANSACTION_KEY: '${kvRef}authorizenet-transaction-key/)'
  CSPB_AUTHORIZENET_SIGNATURE_KEY: '${kvRef}authorizenet-signature-key/)'
  CSPB_QUICKBOOKS_CLIENT_SECRET: '${kvRef}quickbooks-client-secret/)'
  CSPB_PORTAL_SESSION_SECRET: '${kvRef}portal-session-secret/)'
  CSPB_PORTAL_CLIENT_SECRET: '${kvRef}portal-client-secret/)'
  CSPB_SMTP_PASSWORD: '${kvRef}smtp-password/)'
}

var plainSettings = {
  // Functions host storage, identity-based (no account keys).
  AzureWebJobsStorage__accountName: storage.name
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identity.properties.clientId
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identity.properties.clientId};Authorization=AAD'

  CSPB_MODE: 'azure'
  CSPB_TENANT_ID: tenantId
  CSPB_CLIENT_ID: identity.properties.clientId
  CSPB_USE_MANAGED_IDENTITY: 'true'
  CSPB_DATAVERSE_URL: dataverseUrl
  CSPB_PC_CLIENT_ID: partnerCenterClientId
  CSPB_PORTAL_CLIENT_ID: portalClientId
  CSPB_KEY_VAULT_URL: keyVault.properties.vaultUri
  CSPB_PC_REFRESH_TOKEN_SECRET_NAME: 'pc-refresh-token'

  // Service Bus, identity-based: the triggers' connection "CSPB_SERVICEBUS" and the product's own sender.
  CSPB_QUEUE_BACKEND: 'servicebus'
  CSPB_SERVICEBUS__fullyQualifiedNamespace: '${serviceBus.name}.servicebus.windows.net'
  CSPB_SERVICEBUS__credential: 'managedidentity'
  CSPB_SERVICEBUS__clientId: identity.properties.clientId
  CSPB_SERVICEBUS_NAMESPACE: '${serviceBus.name}.servicebus.windows.net'

  // Blob Storage for recon files, identity-based.
  CSPB_STORAGE__serviceUri: storage.properties.primaryEndpoints.blob
  CSPB_STORAGE__credential: 'managedidentity'
  CSPB_STORAGE__clientId: identity.properties.clientId
  CSPB_BLOB_CONTAINER: blobContainerName

  // Invoices and dunning mail through Microsoft Graph sendMail (grant the app Mail.Send, scoped to this mailbox).
  CSPB_MAIL_BACKEND: 'graph'
  CSPB_MAIL_FROM: mailFrom

  CSPB_PORTAL_BASE_URL: 'https://func-cspbridge-${resourceToken}.azurewebsites.net/portal'

  // Timer schedules (NCRONTAB, UTC); the triggers read them as %NAME%.
  CSPB_CATALOG_SCHEDULE: '0 0 3 * * *'
  CSPB_PRICE_PREVIEW_SCHEDULE: '0 0 5 20 * *'
  CSPB_ACCOUNTS_SCHEDULE: '0 30 3 * * *'
  CSPB_SUBSCRIPTION_SYNC_SCHEDULE: '0 0 4 * * *'
  CSPB_RECON_SCHEDULE: '0 0 4 * * *'
  CSPB_BILLING_SCHEDULE: '0 0 6 * * *'
  CSPB_POST_INVOICE_SCHEDULE: '0 */15 * * * *'
  CSPB_KPI_SNAPSHOT_SCHEDULE: '0 0 7 1 * *'
  CSPB_JOURNAL_EXPORT_SCHEDULE: '0 0 8 1 * *'
  CSPB_DUNNING_SCHEDULE: '0 0 9 * * *'
  CSPB_SCHEDULED_CHANGES_SCHEDULE: '0 5 * * * *'
  CSPB_TRIALS_SCHEDULE: '0 15 6 * * *'
  CSPB_INBOX_SWEEP_SCHEDULE: '0 */10 * * * *'
  CSPB_MAX_INSTANCES: string(maxInstances)
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: 'func-cspbridge-${resourceToken}'
  location: location
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identity.id}': {} }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identity.id
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: { type: 'UserAssignedIdentity', userAssignedIdentityResourceId: identity.id }
        }
      }
      scaleAndConcurrency: { maximumInstanceCount: maxInstances, instanceMemoryMB: 2048 }
      runtime: { name: 'python', version: '3.11' }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      appSettings: [for item in items(union(plainSettings, secretSettings)): { name: item.key, value: item.value }]
    }
  }
}

// Role assignments of the managed identity (and of the deploying admin on Key Vault).
resource sbSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: serviceBus
  name: guid(serviceBus.id, identity.id, roles.serviceBusDataSender)
  properties: { principalId: identity.properties.principalId, principalType: 'ServicePrincipal', roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataSender) }
}
resource sbReceiver 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: serviceBus
  name: guid(serviceBus.id, identity.id, roles.serviceBusDataReceiver)
  properties: { principalId: identity.properties.principalId, principalType: 'ServicePrincipal', roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataReceiver) }
}
resource blobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  // The Functions host needs Owner on its own storage for leases and the deployment package.
  scope: storage
  name: guid(storage.id, identity.id, roles.storageBlobDataOwner)
  properties: { principalId: identity.properties.principalId, principalType: 'ServicePrincipal', roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner) }
}
resource blobContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: storage
  name: guid(storage.id, identity.id, roles.storageBlobDataContributor)
  properties: { principalId: identity.properties.principalId, principalType: 'ServicePrincipal', roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor) }
}
resource queueContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: storage
  name: guid(storage.id, identity.id, roles.storageQueueDataContributor)
  properties: { principalId: identity.properties.principalId, principalType: 'ServicePrincipal', roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageQueueDataContributor) }
}
resource tableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: storage
  name: guid(storage.id, identity.id, roles.storageTableDataContributor)
  properties: { principalId: identity.properties.principalId, principalType: 'ServicePrincipal', roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor) }
}
resource kvSecretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: keyVault
  name: guid(keyVault.id, identity.id, roles.keyVaultSecretsUser)
  properties: { principalId: identity.properties.principalId, principalType: 'ServicePrincipal', roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser) }
}
resource kvRotation 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  // Refresh-token rotation (Partner Center, QuickBooks) writes the new token back: that needs set, not only get.
  scope: keyVault
  name: guid(keyVault.id, identity.id, roles.keyVaultSecretsOfficer)
  properties: { principalId: identity.properties.principalId, principalType: 'ServicePrincipal', roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsOfficer) }
}
resource kvAdmin 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(principalId)) {
  scope: keyVault
  name: guid(keyVault.id, principalId, roles.keyVaultSecretsOfficer)
  properties: { principalId: principalId, principalType: 'User', roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsOfficer) }
}
resource metricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: appInsights
  name: guid(appInsights.id, identity.id, roles.monitoringMetricsPublisher)
  properties: { principalId: identity.properties.principalId, principalType: 'ServicePrincipal', roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher) }
}

output functionAppName string = functionApp.name
output functionAppUrl string = 'https://${functionApp.properties.defaultHostName}'
output keyVaultUrl string = keyVault.properties.vaultUri
output serviceBusNamespace string = '${serviceBus.name}.servicebus.windows.net'
output identityClientId string = identity.properties.clientId
