"""Pattern 3: on-behalf-of. The approval system received the person's token for *its own* API
when they approved; it exchanges it (OAuth 2.0 on-behalf-of) for a token to the product's API.
That token's subject is still the person; `azp` names the system.

    AVD_SYSTEM_CLIENT_ID=... AVD_SYSTEM_CERTIFICATE=system.pem \\
    python scripts/send_approval_obo.py promote office 1.4.0 --to production --user-assertion-file u.jwt
"""

from __future__ import annotations

import os
from pathlib import Path

from approval_sender import arguments, message, scope, send
from azure.identity import DefaultAzureCredential, OnBehalfOfCredential

if __name__ == "__main__":
    parser = arguments(__doc__ or "")
    parser.add_argument("--user-assertion-file", type=Path, required=True)
    args = parser.parse_args()
    on_behalf = OnBehalfOfCredential(
        tenant_id=os.environ["AVD_ENTRA_TENANT_ID"],
        client_id=os.environ["AVD_SYSTEM_CLIENT_ID"],
        client_certificate=Path(os.environ["AVD_SYSTEM_CERTIFICATE"]).read_bytes(),
        user_assertion=args.user_assertion_file.read_text(encoding="utf-8").strip(),
    )
    text, message_id = message(args, on_behalf.get_token(scope()).token)
    send(text, message_id, DefaultAzureCredential())  # the system's own identity sends
