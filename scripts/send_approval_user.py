"""Pattern 1: the approver's own token. The person signs in (Azure CLI, browser or device code)
and the message carries an access token for the product's API whose subject is that person.

    python scripts/send_approval_user.py promote office 1.4.0 --to production --ticket CHG0031337
"""

from __future__ import annotations

import os

from approval_sender import arguments, message, scope, send
from azure.identity import AzureCliCredential, DeviceCodeCredential, InteractiveBrowserCredential

if __name__ == "__main__":
    parser = arguments(__doc__ or "")
    parser.add_argument("--sign-in", choices=["cli", "browser", "device-code"], default="cli")
    args = parser.parse_args()
    tenant = os.environ["AVD_ENTRA_TENANT_ID"]
    credential = {
        "cli": lambda: AzureCliCredential(tenant_id=tenant),
        "browser": lambda: InteractiveBrowserCredential(tenant_id=tenant),
        "device-code": lambda: DeviceCodeCredential(tenant_id=tenant),
    }[args.sign_in]()
    text, message_id = message(args, credential.get_token(scope()).token)
    send(text, message_id, credential)
