# azd postdeploy hook: create the Event Grid subscription to arm_events once the function
# code exists (see azure.yaml). azd exports the environment's values to this script.
$ErrorActionPreference = 'Stop'
if ($env:AVD_EVENT_SUBSCRIPTION_ENABLED -eq 'true') {
    Write-Host 'Event Grid subscription already enabled; nothing to do.'
    exit 0
}
Write-Host 'Function code deployed: enabling the Event Grid subscription to arm_events.'
azd env set AVD_EVENT_SUBSCRIPTION_ENABLED true
if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
azd provision --no-prompt
exit $LASTEXITCODE
