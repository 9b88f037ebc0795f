"""Approvers in the catalog are Entra principals; the verifier and the operator sign-in are configured safely."""

from __future__ import annotations

from pathlib import Path

import pytest

from localrun.issuer import LocalIssuer
from shared.config import Settings
from shared.domain.approvals import TokenRefused, redact
from shared.domain.catalog import CatalogError, load_catalog
from shared.domain.errors import RequestRefused
from shared.identity.easyauth import status_reader_refusal
from shared.identity.operator import approval_scope, azure_sign_in, operator_credential
from shared.identity.tokens import TrustedIssuer
from tests.unit.fakes import FakeClock, make_deps

ROOT = Path(__file__).resolve().parents[2]
CAB = '{ group = "9e4c7a21-5b6d-4c8e-a1f3-2d7b8e9c0f50", label = "Change board" }'


def catalog_with(tmp_path: Path, old: str, new: str) -> Path:
    text = (ROOT / "catalog" / "office.toml").read_text(encoding="utf-8")
    assert old in text
    (tmp_path / "office.toml").write_text(text.replace(old, new, 1), encoding="utf-8")
    return tmp_path


def test_free_text_approvers_are_refused_with_the_fix(tmp_path: Path) -> None:
    """ "change board" or an e-mail address proves nothing: the catalog says how to name a principal."""
    folder = catalog_with(tmp_path, f"approvers = [{CAB}]", 'approvers = ["change board"]')
    with pytest.raises(CatalogError) as caught:
        load_catalog(folder)
    (issue,) = caught.value.issues
    assert issue.field == "stages.production.approvers"
    assert "approver 1 ('change board') is free text, not an Entra principal" in issue.reason


def test_an_approver_needs_exactly_one_object_id(tmp_path: Path) -> None:
    """An entry with neither (or both) principal and group, or a malformed id, is refused."""
    folder = catalog_with(tmp_path, f"approvers = [{CAB}]", 'approvers = [{ label = "Change board" }]')
    with pytest.raises(CatalogError, match="exactly one of 'principal' or 'group'"):
        load_catalog(folder)
    folder = catalog_with(tmp_path, f"approvers = [{CAB}]", 'approvers = [{ group = "cab", label = "Change board" }]')
    with pytest.raises(CatalogError, match=r"stages.production.approvers\[0\].group"):
        load_catalog(folder)


def test_production_cannot_be_configured_for_one_person(tmp_path: Path) -> None:
    """approvals_required = 1 on production is refused; two people listed without a group must exist."""
    folder = catalog_with(tmp_path, f"approvers = [{CAB}]", f"approvers = [{CAB}]\napprovals_required = 1")
    with pytest.raises(CatalogError, match="production needs approvals_required >= 2"):
        load_catalog(folder)
    one = '{ principal = "5d9c3f16-7e8b-4ca3-9f50-1b6e3c4d5f15", label = "CAB chair" }'
    folder = catalog_with(tmp_path, f"approvers = [{CAB}]", f"approvers = [{one}]")
    with pytest.raises(CatalogError, match="production needs 2 distinct approvers but lists only 1 principal"):
        load_catalog(folder)


def test_entra_issuer_is_the_configured_tenant_and_app() -> None:
    """v2.0 and v1.0 issuers of the tenant, the client id and api:// URI as audiences, its key set."""
    trusted = TrustedIssuer.entra(Settings(entra_tenant_id="t-1", approvals_client_id="c-1"))
    assert trusted.issuers == ("https://login.microsoftonline.com/t-1/v2.0", "https://sts.windows.net/t-1/")
    assert trusted.audiences == ("c-1", "api://c-1")
    assert trusted.jwks_uri == "https://login.microsoftonline.com/t-1/discovery/v2.0/keys"
    with pytest.raises(TokenRefused, match="approvals are not configured"):
        TrustedIssuer.entra(Settings())


def test_without_a_verifier_every_approval_is_refused_with_the_reason() -> None:
    """A deployment without the app registration settings refuses approvals, naming the settings."""
    deps = make_deps(load_catalog(ROOT / "catalog"))
    deps.verifier = None
    with pytest.raises(TokenRefused, match="set AVD_ENTRA_TENANT_ID and AVD_APPROVALS_CLIENT_ID"):
        deps.verify(LocalIssuer(FakeClock()).token_for("cab-chair@contoso.com"), "approver_token")


def test_operators_sign_in_as_themselves_in_azure() -> None:
    """In Azure `--as` is refused; the token is for the app's API; the Azure CLI is the default credential."""
    settings = Settings(entra_tenant_id="t-1", approvals_client_id="c-1")
    with pytest.raises(RequestRefused, match="--as cab-chair@contoso.com is for local stand-ins only"):
        azure_sign_in(settings)("cab-chair@contoso.com")
    assert approval_scope(settings) == "api://c-1/.default"
    assert type(operator_credential(settings)).__name__ == "AzureCliCredential"
    device = Settings(entra_tenant_id="t-1", approvals_client_id="c-1", operator_credential="device-code")
    assert type(operator_credential(device)).__name__ == "DeviceCodeCredential"
    with pytest.raises(RequestRefused, match="set AVD_APPROVALS_CLIENT_ID"):
        approval_scope(Settings())


def test_refused_messages_are_kept_without_usable_tokens() -> None:
    """The stored copy of a refused approval has its tokens replaced by a fingerprint."""
    token = LocalIssuer(FakeClock()).token_for("cab-chair@contoso.com")
    kept = redact(f'{{"approver_token": "{token}", "workload": "office"}}')
    assert token not in kept
    assert '"approver_token": "<redacted sha256:' in kept
    assert token not in redact(f"not json {token}")


def test_status_page_gate_outside_and_inside_app_service() -> None:
    """Locally the page is open; in App Service it needs Easy Auth's readers group and a signed-in principal."""
    assert status_reader_refusal({}, {}) == ""
    azure = {"WEBSITE_SITE_NAME": "func-x"}
    assert "approvalsClientId and statusReadersGroupId" in status_reader_refusal({}, azure)
    configured = {**azure, "AVD_STATUS_READERS_GROUP": "g", "WEBSITE_AUTH_ENABLED": "True"}
    assert "sign in with Entra ID" in status_reader_refusal({}, configured)
    assert status_reader_refusal({"x-ms-client-principal-id": "oid"}, configured) == ""


def test_a_signed_in_operator_is_recorded_as_the_builds_requester() -> None:
    """`avdimage build` records `name|oid` of the verified operator, so they cannot approve its production."""
    from shared.identity.operator import signed_requester

    issuer = LocalIssuer(FakeClock())
    verifier = issuer.verifier()
    chair = signed_requester(lambda _: issuer.token_for("cab-chair@contoso.com"), verifier.verify)
    assert chair == "cab-chair@contoso.com|5d9c3f16-7e8b-4ca3-9f50-1b6e3c4d5f15"

    def nobody(_: str | None) -> str:
        raise RequestRefused("locally, name the demo person with --as")

    assert signed_requester(nobody, verifier.verify) == ""
    assert signed_requester(None, verifier.verify) == ""
