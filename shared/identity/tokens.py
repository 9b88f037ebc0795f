"""Verify Entra ID tokens with PyJWT: signature against the tenant's published keys, issuer,
audience, expiry and an algorithm allow-list. The same code runs against Entra ID in Azure and
against the local issuer (localrun/issuer.py) in tests and the demo; only the URLs differ.

Why PyJWT: it is already in the product's dependency tree (azure-identity -> msal -> PyJWT with
its `crypto` extra), so it adds no new supply-chain surface, and its `PyJWKClient` caches the
tenant's key set and refreshes it once when a token names an unknown `kid` (Entra rotates keys).

Time claims (`exp`, `nbf`) are checked here against the product's Clock (virtual in tests and
the demo), with a small leeway for clock skew, instead of PyJWT's wall clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from shared.adapters.clock import Clock
from shared.config import Settings
from shared.domain.approvals import Principal, TokenRefused

ALGORITHMS = ("RS256",)  # what Entra ID signs with; never "none", never HS* (a shared secret proves nothing)


@dataclass(frozen=True)
class TrustedIssuer:
    """Whose tokens count: one tenant, this app as audience, the keys at `jwks_uri`."""

    tenant_id: str
    issuers: tuple[str, ...]
    audiences: tuple[str, ...]
    jwks_uri: str
    leeway: timedelta = timedelta(minutes=2)

    @classmethod
    def entra(cls, settings: Settings) -> TrustedIssuer:
        """Entra ID: v2.0 and v1.0 issuers of the tenant; the app's client id and Application ID URI."""
        tenant, client = settings.entra_tenant_id, settings.approvals_client_id
        if not tenant or not client:
            raise TokenRefused(
                "approvals are not configured: set AVD_ENTRA_TENANT_ID and AVD_APPROVALS_CLIENT_ID "
                "(docs/deploy.md, 'Approvals: the app registration')"
            )
        authority = settings.entra_authority.rstrip("/")
        return cls(
            tenant_id=tenant,
            issuers=(f"{authority}/{tenant}/v2.0", f"https://sts.windows.net/{tenant}/"),
            audiences=(client, settings.approvals_app_id_uri or f"api://{client}"),
            jwks_uri=f"{authority}/{tenant}/discovery/v2.0/keys",
            leeway=timedelta(seconds=settings.token_leeway_seconds),
        )


def _epoch(claims: dict[str, Any], name: str) -> datetime | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TokenRefused(f"claim {name!r} is not a number")
    return datetime.fromtimestamp(value, UTC)


class JwtVerifier:
    """The TokenVerifier adapter: PyJWT + PyJWKClient against one trusted issuer."""

    def __init__(self, trusted: TrustedIssuer, clock: Clock, *, refresh_cooldown_seconds: float = 30.0) -> None:
        self.trusted = trusted
        self.clock = clock
        # The key set is cached for an hour; an unknown kid forces one refresh (after the cooldown).
        self._keys = jwt.PyJWKClient(
            trusted.jwks_uri, cache_jwk_set=True, lifespan=3600, timeout=10, cooldown_duration=refresh_cooldown_seconds
        )

    def verify(self, token: str, what: str = "approver_token") -> Principal:
        claims = self._claims(token, what)
        now, leeway = self.clock.now(), self.trusted.leeway
        expires, not_before = _epoch(claims, "exp"), _epoch(claims, "nbf")
        if expires is None:
            raise TokenRefused(f"{what}: the token has no expiry (exp)")
        if now > expires + leeway:
            raise TokenRefused(f"{what}: the token expired at {expires.isoformat()} (now {now.isoformat()})")
        if not_before is not None and now + leeway < not_before:
            raise TokenRefused(f"{what}: the token is not valid before {not_before.isoformat()}")
        if str(claims.get("tid", "")).casefold() != self.trusted.tenant_id.casefold():
            raise TokenRefused(f"{what}: tenant {claims.get('tid')!r} is not the configured tenant")
        oid = claims.get("oid")
        if not isinstance(oid, str) or not oid:
            raise TokenRefused(f"{what}: the token names no object id (oid)")
        return _principal(claims, oid, expires)

    def _claims(self, token: str, what: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError as error:
            raise TokenRefused(f"{what}: not a signed JWT ({error})") from None
        algorithm = header.get("alg")
        if algorithm not in ALGORITHMS:
            raise TokenRefused(
                f"{what}: algorithm {algorithm!r} is refused; only {', '.join(ALGORITHMS)} tokens signed by "
                "the tenant count (unsigned 'none' or shared-secret HS* tokens prove nothing)"
            )
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise TokenRefused(f"{what}: the token names no signing key (kid)")
        try:
            key = self._keys.get_signing_key(kid)
        except jwt.PyJWKClientConnectionError:
            raise  # the key set is unreachable: not the sender's fault; the message is retried
        except jwt.PyJWKClientError:
            raise TokenRefused(
                f"{what}: signed with key {kid[:40]!r}, which the tenant does not publish ({self.trusted.jwks_uri})"
            ) from None
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=list(ALGORITHMS),
                audience=list(self.trusted.audiences),
                issuer=list(self.trusted.issuers),
                options={
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "require": ["exp", "iss", "aud"],
                },
            )
        except jwt.InvalidSignatureError:
            raise TokenRefused(f"{what}: the signature does not verify with the tenant's key {kid[:40]!r}") from None
        except jwt.InvalidAudienceError:
            audience = jwt.decode(token, options={"verify_signature": False}).get("aud")
            raise TokenRefused(
                f"{what}: issued for audience {audience!r}, not this app ({', '.join(self.trusted.audiences)})"
            ) from None
        except jwt.InvalidIssuerError:
            issuer = jwt.decode(token, options={"verify_signature": False}).get("iss")
            raise TokenRefused(f"{what}: issuer {issuer!r} is not the configured tenant") from None
        except jwt.InvalidTokenError as error:
            raise TokenRefused(f"{what}: {error}") from None
        return claims


def _principal(claims: dict[str, Any], oid: str, expires: datetime) -> Principal:
    names = ("preferred_username", "upn", "unique_name", "name", "app_displayname", "azp", "appid")
    display = next((str(claims[n]) for n in names if isinstance(claims.get(n), str) and claims[n]), oid)
    user = claims.get("idtyp") == "user" or any(n in claims for n in ("scp", "preferred_username", "upn"))
    app_only = claims.get("idtyp") == "app" or not user
    claim_names = claims.get("_claim_names")
    overage = (isinstance(claim_names, dict) and "groups" in claim_names) or bool(claims.get("hasgroups"))
    groups = claims.get("groups", [])
    return Principal(
        object_id=oid,
        tenant_id=str(claims.get("tid", "")),
        display=display[:200],
        kind="app" if app_only else "user",
        groups=tuple(str(g) for g in groups) if isinstance(groups, list) else (),
        groups_overage=overage,
        client_app=str(claims.get("azp") or claims.get("appid") or ""),
        expires_at=expires,
    )
