#!/bin/sh
# azd postdeploy hook: create the Event Grid subscription to arm_events once the function
# code exists (see azure.yaml). azd exports the environment's values to this script.
set -eu
if [ "${AVD_EVENT_SUBSCRIPTION_ENABLED:-false}" = "true" ]; then
  echo "Event Grid subscription already enabled; nothing to do."
  exit 0
fi
echo "Function code deployed: enabling the Event Grid subscription to arm_events."
azd env set AVD_EVENT_SUBSCRIPTION_ENABLED true
azd provision --no-prompt
