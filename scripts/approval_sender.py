"""What every approval sender does: build the contract-v2 message and put it on `image-approvals`.

Used by the three send_approval_*.py scripts (one per pattern in docs/contracts/README.md).
Settings come from the environment: AVD_ENTRA_TENANT_ID, AVD_APPROVALS_CLIENT_ID (the product's
app registration) and AVD_SERVICE_BUS_NAMESPACE (<name>.servicebus.windows.net).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from datetime import UTC, datetime
from typing import Any


def arguments(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("action", choices=["promote", "rollback"])
    parser.add_argument("workload")
    parser.add_argument("version", help="the version to promote, or the production version to withdraw")
    parser.add_argument("--to", dest="target_stage", help="the next stage (promote only)")
    parser.add_argument("--ticket", default="")
    parser.add_argument("--reason", default="")
    return parser


def scope() -> str:
    """An access token for the product's own API: its audience is the app registration."""
    client = os.environ["AVD_APPROVALS_CLIENT_ID"]
    return f"{os.environ.get('AVD_APPROVALS_APP_ID_URI') or 'api://' + client}/.default"


def message(args: argparse.Namespace, approver_token: str, system_token: str | None = None) -> tuple[str, str]:
    """The JSON body and its MessageId, derived from the content (a corrected re-send is never dropped)."""
    body: dict[str, Any] = {
        "action": args.action,
        "workload": args.workload,
        "version": args.version,
        "approver_token": approver_token,
        "ticket": args.ticket,
        "reason": args.reason,
        "requested_at": datetime.now(UTC).isoformat(),
    }
    if args.target_stage:
        body["target_stage"] = args.target_stage
    if system_token:
        body["system_token"] = system_token
    text = json.dumps(body)
    canonical = json.dumps(json.loads(text), sort_keys=True, separators=(",", ":")).encode()
    return text, "approval-" + hashlib.sha256(canonical).hexdigest()[:40]


def send(text: str, message_id: str, credential: Any) -> None:
    """Send with the sender's Entra identity (Azure Service Bus Data Sender on the queue)."""
    from azure.servicebus import ServiceBusClient, ServiceBusMessage

    namespace = os.environ["AVD_SERVICE_BUS_NAMESPACE"]
    with ServiceBusClient(namespace, credential) as client, client.get_queue_sender("image-approvals") as sender:
        sender.send_messages(ServiceBusMessage(text, message_id=message_id, content_type="application/json"))
    print(f"sent {message_id}")
