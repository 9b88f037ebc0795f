"""A local stand-in for Entra ID: RSA keys generated at start, the key set (JWKS) served over
loopback HTTP, tokens shaped like Entra's v2.0 access tokens for the app's API.

Tests and the demo verify these tokens with exactly the production code (shared/identity), so
every approval rule runs with real signatures. The people of the sample catalog live here.
"""

from __future__ import annotations

import json
import threading
import uuid
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.adapters.clock import Clock
from shared.identity.tokens import JwtVerifier, TrustedIssuer

TENANT = "c0ffee00-0000-4000-8000-00000000a11d"
CLIENT_ID = "a9b0c1d2-e3f4-4a5b-8c6d-7e8f9a0b1c2d"  # the product's app registration (audience)
OTHER_APP = "0d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6"  # some other API in the tenant
APPROVAL_SYSTEM = "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d"  # ServiceNow's workload identity

EUC_TEAM = "3f9a1c52-7d2e-4b8a-9c41-5e0d2a6b7f10"
DATA_PLATFORM = "6b2d8e14-1a3c-4f5e-8d7b-9c0a1e2f3a40"
CHANGE_BOARD = "9e4c7a21-5b6d-4c8e-a1f3-2d7b8e9c0f50"


@dataclass(frozen=True)
class Person:
    object_id: str
    groups: tuple[str, ...] = ()


# The sample catalog's approvers (catalog/*.toml name these object ids and groups).
PEOPLE: dict[str, Person] = {
    "euc-admin@contoso.com": Person("2a6f0c83-4b5e-4f70-9c2d-8e3b0f1a2c12", (EUC_TEAM,)),
    "qa-lead@contoso.com": Person("1c5e9b72-3a4d-4e6f-b8c1-7d2a9e0f1b11"),
    "data-lead@contoso.com": Person("4c8b2e05-6d7a-4b92-8e4f-0a5d2b3c4e14", (DATA_PLATFORM,)),
    "cab-chair@contoso.com": Person("5d9c3f16-7e8b-4ca3-9f50-1b6e3c4d5f15", (CHANGE_BOARD,)),
    "cab-deputy@contoso.com": Person("6ea04027-8f9c-4db4-a061-2c7f4d5e6a16", (CHANGE_BOARD,)),
    "mallory@contoso.com": Person("7fb15138-9a0d-4ec5-b172-3d805e6f7b17"),
}
# Who approves what in the sample catalog; production takes two people (the two-person rule).
OFFICE_APPROVERS = {
    "test": ["euc-admin@contoso.com"],
    "validation": ["qa-lead@contoso.com"],
    "production": ["cab-chair@contoso.com", "cab-deputy@contoso.com"],
    "dr": ["cab-chair@contoso.com"],
}
ANALYST_APPROVERS = {**OFFICE_APPROVERS, "test": ["data-lead@contoso.com"], "validation": ["data-lead@contoso.com"]}
APPROVERS = {"office": OFFICE_APPROVERS, "data-analyst": ANALYST_APPROVERS}


def _private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class LocalIssuer:
    """Signs tokens like Entra ID and publishes its public keys at `jwks_uri` (loopback HTTP)."""

    clock: Clock
    tenant: str = TENANT
    audience: str = CLIENT_ID
    lifetime: timedelta = timedelta(minutes=75)  # Entra access tokens live 60-90 minutes
    _key: rsa.RSAPrivateKey = field(default_factory=_private_key)
    kid: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    @property
    def issuer(self) -> str:
        return f"{self.base_url}/{self.tenant}/v2.0"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{_serve(self)}/{self.id}"

    @property
    def jwks_uri(self) -> str:
        return f"{self.base_url}/{self.tenant}/discovery/v2.0/keys"

    def jwks(self) -> dict[str, Any]:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self._key.public_key()))
        return {"keys": [{**public, "kid": self.kid, "use": "sig", "alg": "RS256"}]}

    def trusted(self, leeway: timedelta = timedelta(minutes=2)) -> TrustedIssuer:
        return TrustedIssuer(
            tenant_id=self.tenant,
            issuers=(self.issuer,),
            audiences=(self.audience, f"api://{self.audience}"),
            jwks_uri=self.jwks_uri,
            leeway=leeway,
        )

    def verifier(self, clock: Clock | None = None) -> JwtVerifier:
        """The production verifier, pointed at this issuer."""
        return JwtVerifier(self.trusted(), clock or self.clock, refresh_cooldown_seconds=0)

    def _registered_claims(self) -> dict[str, Any]:
        """Audience, issuer, tenant and a lifetime from now: what every token of this issuer carries."""
        now = self.clock.now()
        return {
            "aud": self.audience,
            "iss": self.issuer,
            "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()),
            "exp": int((now + self.lifetime).timestamp()),
            "tid": self.tenant,
        }

    def claims_for(self, name: str, **overrides: Any) -> dict[str, Any]:
        """Claims of a delegated (user) access token for the app's API, as Entra v2.0 issues them."""
        person = PEOPLE.get(name) or Person(str(uuid.uuid5(uuid.NAMESPACE_DNS, name)))
        claims: dict[str, Any] = {
            **self._registered_claims(),
            "oid": person.object_id,
            "sub": uuid.uuid5(uuid.NAMESPACE_URL, person.object_id).hex,
            "preferred_username": name,
            "name": name.split("@")[0],
            "scp": "Approvals.Submit",
            "azp": "04b07795-8ddb-461a-bbee-02f9e1bf7b46",  # the Azure CLI's client id
            "ver": "2.0",
            "groups": list(person.groups),
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def token_for(self, name: str, **overrides: Any) -> str:
        """A signed token for a person of the sample directory (or anyone, with a derived oid)."""
        return self.sign(self.claims_for(name, **overrides))

    def system_token(self, app_id: str = APPROVAL_SYSTEM, **overrides: Any) -> str:
        """An app-only (client credentials) token of an approval system's workload identity."""
        claims: dict[str, Any] = {
            **self._registered_claims(),
            "oid": str(uuid.uuid5(uuid.NAMESPACE_URL, app_id)),
            "sub": app_id,
            "azp": app_id,
            "app_displayname": "ServiceNow approvals",
            "idtyp": "app",
            "roles": ["Approvals.Send"],
            "ver": "2.0",
        }
        claims.update(overrides)
        return self.sign(claims)

    def sign(self, claims: Mapping[str, Any], *, key: rsa.RSAPrivateKey | None = None, kid: str | None = None) -> str:
        return jwt.encode(dict(claims), key or self._key, algorithm="RS256", headers={"kid": kid or self.kid})

    def rotate(self) -> None:
        """A new signing key, as Entra rolls its keys: the old kid disappears from the key set."""
        self._key, self.kid = _private_key(), uuid.uuid4().hex[:16]


class _Keys(BaseHTTPRequestHandler):
    """GET /{issuer id}/{tenant}/discovery/v2.0/keys: the key set of a registered local issuer."""

    def do_GET(self) -> None:
        parts = self.path.strip("/").split("/")
        issuer = _ISSUERS.get(parts[0]) if parts else None
        if issuer is not None and self.path.rstrip("/").endswith("/discovery/v2.0/keys"):
            body, status = json.dumps(issuer.jwks()).encode(), 200
        else:
            body, status = b'{"error":"not found"}', 404
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


_ISSUERS: weakref.WeakValueDictionary[str, LocalIssuer] = weakref.WeakValueDictionary()
_SERVER: list[ThreadingHTTPServer] = []
_LOCK = threading.Lock()


def _serve(issuer: LocalIssuer) -> int:
    """One loopback key server per process, shared by every local issuer; returns its port."""
    with _LOCK:
        _ISSUERS[issuer.id] = issuer
        if not _SERVER:
            server = ThreadingHTTPServer(("127.0.0.1", 0), _Keys)
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, name="local-issuer-jwks", daemon=True).start()
            _SERVER.append(server)
        return int(_SERVER[0].server_address[1])


def forged(issuer: LocalIssuer, kind: str, name: str = "cab-chair@contoso.com") -> str:
    """The attacks the approval rules refuse, as tokens (for tests and the demo)."""
    claims = issuer.claims_for(name)
    if kind == "unsigned":  # alg none
        return jwt.encode(claims, None, algorithm="none", headers={"kid": issuer.kid})
    if kind == "hs256":  # a shared secret anyone could know
        return jwt.encode(claims, "secret-known-to-the-attacker-32b!", algorithm="HS256", headers={"kid": issuer.kid})
    if kind == "unknown-key":  # a well-formed token signed by the attacker's own key
        return issuer.sign(claims, key=_private_key(), kid="attacker-key")
    if kind == "wrong-issuer":
        return issuer.sign({**claims, "iss": "https://login.microsoftonline.com/evil-tenant/v2.0"})
    if kind == "wrong-audience":
        return issuer.sign({**claims, "aud": OTHER_APP})
    if kind == "expired":
        past = issuer.clock.now() - timedelta(hours=3)
        return issuer.sign({**claims, "iat": int(past.timestamp()), "nbf": int(past.timestamp()),
                            "exp": int((past + timedelta(minutes=75)).timestamp())})  # fmt: skip
    if kind == "non-approver":
        return issuer.token_for("mallory@contoso.com")
    if kind == "tampered":  # a real token whose payload was edited: the signature no longer matches
        header, _, signature = issuer.token_for("mallory@contoso.com").split(".")
        payload = jwt.utils.base64url_encode(json.dumps(claims).encode()).decode()
        return f"{header}.{payload}.{signature}"
    raise ValueError(f"unknown forgery {kind!r}")


def token_at(issuer: LocalIssuer, name: str, when: datetime) -> str:
    """A token issued at `when` (for replay tests)."""
    return issuer.token_for(
        name,
        iat=int(when.timestamp()),
        nbf=int(when.timestamp()),
        exp=int((when + issuer.lifetime).timestamp()),
    )
