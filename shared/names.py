"""Binding names shared by the function triggers and infra/. No imports: the Functions host
imports the trigger modules to index them, and every import there is cold-start time."""

STEP_QUEUE = "image-steps"
APPROVAL_QUEUE = "image-approvals"
SERVICE_BUS_CONNECTION = "ServiceBusConnection"
