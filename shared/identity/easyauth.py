"""Who may read the status page in Azure: members of the readers group, signed in by App Service
Authentication (Easy Auth, infra/modules/easyauth.bicep), which checks the group before the
request reaches the app and then sets the X-MS-CLIENT-PRINCIPAL-* headers.

App Service strips those headers from outside requests only while Easy Auth is on (Microsoft
Learn, "Work with user identities in Azure App Service authentication"), and sets
WEBSITE_AUTH_ENABLED when it is ("Environment variables and app settings reference"). So in Azure
the page answers only when both hold; locally (no WEBSITE_SITE_NAME) it is open.
"""

from __future__ import annotations

from collections.abc import Mapping


def status_reader_refusal(headers: Mapping[str, str], environ: Mapping[str, str]) -> str:
    """Why this request may not read the status page; empty when it may."""
    if not environ.get("WEBSITE_SITE_NAME"):
        return ""  # not in App Service: `func start`, the demo and the tests
    if not environ.get("AVD_STATUS_READERS_GROUP"):
        return (
            "the status page is served only behind App Service Authentication: deploy with "
            "approvalsClientId and statusReadersGroupId (docs/deploy.md, 'The status page')"
        )
    if environ.get("WEBSITE_AUTH_ENABLED", "").casefold() != "true" or not headers.get("x-ms-client-principal-id"):
        return "sign in with Entra ID to read the status page (App Service Authentication is not active)"
    return ""
