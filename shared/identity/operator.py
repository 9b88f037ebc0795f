"""Operators sign in with their own Entra identity for `avdimage promote/rollback` (azure-identity).

The token is an access token for the app's own API (scope `<Application ID URI>/.default`), so
the approvals function verifies it exactly like an approval system's. Which credential is used
is AVD_OPERATOR_CREDENTIAL: `cli` (the Azure CLI's sign-in; the app registration pre-authorizes
the Azure CLI's client id), `interactive` (a browser) or `device-code` (a code on another device).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from azure.core.exceptions import ClientAuthenticationError
from jwt import PyJWKClientError

from shared.domain.approvals import Principal
from shared.domain.errors import DomainError, RequestRefused

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

    from shared.config import Settings


def approval_scope(settings: Settings) -> str:
    """The scope that yields an access token whose audience is the product's app registration."""
    if not settings.approvals_client_id:
        raise RequestRefused(
            "approvals are not configured: set AVD_APPROVALS_CLIENT_ID (and AVD_ENTRA_TENANT_ID) to sign in"
        )
    return f"{settings.approvals_app_id_uri or 'api://' + settings.approvals_client_id}/.default"


def operator_credential(settings: Settings) -> TokenCredential:
    from azure.identity import AzureCliCredential, DeviceCodeCredential, InteractiveBrowserCredential

    tenant = settings.entra_tenant_id
    if settings.operator_credential == "interactive":
        return InteractiveBrowserCredential(tenant_id=tenant or None)
    if settings.operator_credential == "device-code":
        return DeviceCodeCredential(tenant_id=tenant or None)
    return AzureCliCredential(tenant_id=tenant)


def azure_sign_in(settings: Settings) -> Callable[[str | None], str]:
    """The Entrypoints.sign_in of production: the operator's own token; `--as` is refused."""

    def sign_in(who: str | None) -> str:
        if who:
            raise RequestRefused(f"--as {who} is for local stand-ins only; in Azure you approve as yourself")
        return operator_credential(settings).get_token(approval_scope(settings)).token

    return sign_in


def signed_requester(sign_in: Callable[[str | None], str] | None, verify: Callable[[str, str], Principal]) -> str:
    """`name|oid` of the signed-in operator, recorded as a build's requester so that the two-person
    rule can exclude them from its production approvals; empty when nobody can be signed in."""
    if sign_in is None:
        return ""
    try:
        principal = verify(sign_in(None), "operator token")
    except (DomainError, ClientAuthenticationError, PyJWKClientError):
        return ""
    return f"{principal.display}|{principal.object_id}"
