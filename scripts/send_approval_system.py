"""Pattern 2: the approval system's workload identity plus the person's token.

The system (ServiceNow, a pipeline) authenticates as itself (managed identity, workload identity
federation or a certificate; DefaultAzureCredential finds it) and adds that app-only token as
`system_token`; the person's token (obtained when the person approved in the system, with the
product's API as audience) is `approver_token`. The product verifies both; the approver is the
person, the system is recorded as the channel.

    python scripts/send_approval_system.py promote office 1.4.0 --to production --approver-token-file t.jwt
"""

from __future__ import annotations

from pathlib import Path

from approval_sender import arguments, message, scope, send
from azure.identity import DefaultAzureCredential

if __name__ == "__main__":
    parser = arguments(__doc__ or "")
    parser.add_argument("--approver-token-file", type=Path, required=True)
    args = parser.parse_args()
    system = DefaultAzureCredential()
    person = args.approver_token_file.read_text(encoding="utf-8").strip()
    text, message_id = message(args, person, system_token=system.get_token(scope()).token)
    send(text, message_id, system)
