"""The approval contract and its rules: who may approve is proven by a signed token, never a field.

An approval system (ServiceNow, Azure DevOps, a GitHub environment) or an operator's CLI puts a
message on the `image-approvals` queue that carries an Entra ID token. The approver is the
token's subject (`oid`); the catalog names principals and groups by object id. Production (and
any stage configured so) needs two distinct verified principals, neither the build's requester.

docs/contracts/approval.schema.json is generated from this model (`avdimage schema --write`);
docs/contracts/README.md documents the sending patterns and the migration from the old contract.
Pure: no azure imports; token verification is a port (`TokenVerifier`) with adapters in
shared/identity.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from shared.domain.commands import FreeText, Promote, Rollback, Token, VersionText, WorkloadName
from shared.domain.errors import DomainError, RequestRefused
from shared.domain.model import Approval, ImageVersion, Stage

CONTRACT_VERSION = 2  # the title of approval.schema.json says which version it is


class TokenRefused(RequestRefused):
    """A token that proves nothing: unsigned, wrongly signed, for another app or tenant, expired."""


class NothingToDo(DomainError):
    """The request asks for what is already true (e.g. a stage the version already passed)."""


class Principal(BaseModel):
    """Who a verified token speaks for: an Entra user or a workload identity (app)."""

    model_config = ConfigDict(frozen=True)

    object_id: str  # `oid`: stable, unique in the tenant, the identity rules compare
    tenant_id: str
    display: str  # preferred_username / upn / name, for people reading the audit trail
    kind: Literal["user", "app"]
    groups: tuple[str, ...] = ()
    groups_overage: bool = False  # `_claim_names.groups` or `hasgroups`: too many groups for the token
    client_app: str = ""  # `azp` / `appid`: the application that obtained the token
    expires_at: datetime

    @property
    def shown(self) -> str:
        """Display name with the object id: what the audit trail records as the actor."""
        return f"{self.display} ({self.object_id})"


class TokenVerifier(Protocol):
    """Port: turn a compact JWS into a verified principal, or raise TokenRefused with the reason."""

    def verify(self, token: str, what: str) -> Principal: ...


class ApproverEntry(Protocol):
    """What a catalog approver entry offers (shared.domain.catalog.Approver)."""

    @property
    def principal(self) -> str | None: ...

    @property
    def group(self) -> str | None: ...

    @property
    def label(self) -> str: ...


# --- the rules -------------------------------------------------------------------------------------


def authorize(principal: Principal, approvers: Sequence[ApproverEntry], stage: Stage) -> ApproverEntry:
    """The catalog entry that lets this principal approve `stage`, or a refusal saying why not."""
    oid = principal.object_id.casefold()
    for entry in approvers:
        if entry.principal is not None and entry.principal.casefold() == oid:
            return entry
    member = {g.casefold() for g in principal.groups}
    for entry in approvers:
        if entry.group is not None and entry.group.casefold() in member:
            return entry
    allowed = ", ".join(e.label for e in approvers)
    if principal.groups_overage and any(e.group for e in approvers):
        raise RequestRefused(
            f"{principal.shown} is a member of too many groups for the token to list them (group overage); "
            f"group membership cannot be proven from this token: name the person by object id in the catalog, "
            f"or have the app registration emit only the groups assigned to the application "
            f"(allowed for {stage.value}: {allowed})"
        )
    raise RequestRefused(f"{principal.shown} is not an allowed approver for {stage.value} (allowed: {allowed})")


def is_requester(principal: Principal, requested_by: str) -> bool:
    """Did this principal request the build? `requested_by` holds an object id or a user name.

    The CLI records `name|oid` for a signed-in operator and `user@cli` otherwise; the comparison
    errs on the strict side (the local part of the user name also counts).
    """
    parts = {p.casefold() for p in re.split(r"[|\s,]+", requested_by) if p}
    mine = {principal.object_id.casefold(), principal.display.casefold()}
    local = principal.display.split("@", 1)[0].casefold()
    cli = {p.removesuffix("@cli") for p in parts if p.endswith("@cli")}
    return bool(parts & mine) or local in cli


def standing(
    approvals: Collection[Approval], stage: Stage, action: str, now: datetime, valid: timedelta
) -> list[Approval]:
    """The approvals for `stage` (and action) still in force: given within `valid` before now."""
    return [a for a in approvals if a.stage is stage and a.action == action and now - a.at <= valid]


def progress(count: int, required: int, stage: Stage, action: str = "promote") -> str:
    what = "approvals" if required != 1 else "approval"
    verb = "for" if action == "promote" else "to roll back"
    return f"{count} of {required} {what} {verb} {stage.value}"


@dataclass(frozen=True)
class Admitted:
    """An approval that counts, and how many distinct principals approve now (this one included)."""

    approval: Approval
    count: int
    required: int

    @property
    def complete(self) -> bool:
        return self.count >= self.required


def admit(
    principal: Principal,
    approvers: Sequence[ApproverEntry],
    version: ImageVersion,
    stage: Stage,
    *,
    required: int,
    now: datetime,
    valid: timedelta,
    action: Literal["promote", "rollback"] = "promote",
    ticket: str = "",
    reason: str = "",
    via: Principal | None = None,
) -> Admitted:
    """Apply the rules to one verified principal; raise RequestRefused with the reason it does not count."""
    entry = authorize(principal, approvers, stage)
    if action == "promote" and is_requester(principal, version.requested_by):
        raise RequestRefused(
            f"{principal.shown} requested the build of {version.version} ({version.requested_by}); "
            f"the approver of {stage.value} must be someone else"
        )
    current = standing(version.approvals, stage, action, now, valid)
    if any(a.principal.casefold() == principal.object_id.casefold() for a in current):
        raise RequestRefused(
            f"{principal.shown} already approved this ({progress(len(current), required, stage, action)}); "
            f"{stage.value} needs {required} different people"
        )
    approval = Approval(
        stage=stage,
        approver=principal.display,
        principal=principal.object_id,
        as_approver=entry.label,
        via=via.shown if via is not None else principal.client_app,
        action=action,
        ticket=ticket,
        reason=reason,
        at=now,
    )
    return Admitted(approval=approval, count=len({a.principal for a in current}) + 1, required=required)


def check_requested_at(requested_at: datetime, now: datetime, window: timedelta, leeway: timedelta) -> None:
    """A rollback must be recent: a replay of an old one (or one dated in the future) is refused."""
    if requested_at > now + leeway:
        raise RequestRefused(f"requested_at {requested_at.isoformat()} is in the future (now {now.isoformat()})")
    if now - requested_at > window:
        minutes = int(window.total_seconds() // 60)
        raise RequestRefused(
            f"requested_at {requested_at.isoformat()} is older than {minutes} minutes (now {now.isoformat()}); "
            "a rollback must be sent when it is decided: replays are refused"
        )


# --- the contract ----------------------------------------------------------------------------------

_EXAMPLE_JWS = "eyJhbGciOiJSUzI1NiIsImtpZCI6Ii4uLiJ9.eyJvaWQiOiIuLi4ifQ.c2lnbmF0dXJl"


class ApprovalRequest(BaseModel):
    """One approval decision. Unknown fields are refused so typos never pass silently."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        title=f"AVD image approval (contract version {CONTRACT_VERSION})",
        json_schema_extra={
            "examples": [
                {
                    "action": "promote",
                    "workload": "office",
                    "version": "1.4.0",
                    "target_stage": "production",
                    "approver_token": _EXAMPLE_JWS,
                    "ticket": "CHG0031337",
                    "reason": "Pilot ring signed off",
                    "requested_at": "2026-11-24T09:30:00Z",
                },
                {
                    "action": "rollback",
                    "workload": "office",
                    "version": "1.4.0",
                    "approver_token": _EXAMPLE_JWS,
                    "system_token": _EXAMPLE_JWS,
                    "ticket": "INC0042",
                    "reason": "Teams crashes at sign-in",
                    "requested_at": "2026-11-25T07:10:00Z",
                },
            ]
        },
    )

    action: Literal["promote", "rollback"] = Field(default="promote", description="promote one stage, or roll back")
    workload: WorkloadName = Field(description="Workload name as in the catalog, e.g. 'office'")
    version: VersionText = Field(
        description="Major.Minor.Patch: the version to promote, or for a rollback the production version it withdraws"
    )
    target_stage: Stage | None = Field(default=None, description="The next stage; required to promote")
    approver_token: Token = Field(
        description="Entra ID token of the person who approves (access token for the app's API, or via "
        "on-behalf-of); the approver is its subject (oid), never a field of this message"
    )
    system_token: Token | None = Field(
        default=None,
        description="Optional: the approval system's own workload-identity token (client credentials), "
        "recorded as the system the approval came through",
    )
    ticket: FreeText = Field(default="", description="Change or incident reference")
    reason: FreeText = Field(default="", description="Why, in words a later admin will understand")
    requested_at: AwareDatetime = Field(
        description="When the approval was given (ISO 8601 with time zone); a rollback must be recent"
    )

    @model_validator(mode="before")
    @classmethod
    def old_contract(cls, data: Any) -> Any:
        if isinstance(data, dict) and "approver" in data:
            raise ValueError(
                "'approver' is no longer accepted: the approver is the subject of 'approver_token', a token "
                "Entra ID signed (contract version 2; see docs/contracts/README.md, 'Migrating')"
            )
        return data

    @model_validator(mode="after")
    def promotion_names_stage(self) -> Self:
        if self.action == "promote" and self.target_stage is None:
            raise ValueError("a promotion needs 'target_stage'")
        if self.action == "rollback" and self.target_stage is not None:
            raise ValueError(
                "a rollback takes no 'target_stage': it names in 'version' the production version it withdraws"
            )
        return self

    def to_command(self) -> Promote | Rollback:
        requested_at: datetime = self.requested_at
        common: dict[str, Any] = {
            "workload": self.workload,
            "version": self.version,
            "approver_token": self.approver_token,
            "system_token": self.system_token,
            "ticket": self.ticket,
            "reason": self.reason,
            "requested_at": requested_at,
        }
        if self.action == "rollback":
            return Rollback(**common)
        if self.target_stage is None:  # the validator makes this impossible
            raise ValueError("a promotion needs 'target_stage'")
        return Promote(target_stage=self.target_stage, **common)


def approval_message_id(body: str | bytes) -> str:
    """The documented MessageId of an approval: derived from its content.

    A corrected approval (another ticket, reason or token) gets another id, so Service Bus
    duplicate detection never drops it; an identical re-send is still a duplicate.
    """
    raw = body.encode() if isinstance(body, str) else body
    try:
        canonical = json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        canonical = raw
    return "approval-" + hashlib.sha256(canonical).hexdigest()[:40]


def redact(body: str) -> str:
    """A refused message is kept for inspection, but never with a usable bearer token in it."""
    try:
        data = json.loads(body)
    except ValueError:
        return re.sub(r"[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]*", "<token redacted>", body)
    if not isinstance(data, dict):
        return body
    for key in ("approver_token", "system_token"):
        value = data.get(key)
        if isinstance(value, str):
            data[key] = f"<redacted sha256:{hashlib.sha256(value.encode()).hexdigest()[:16]}>"
    return json.dumps(data, ensure_ascii=False)  # as received: no \\u escapes that multiply its size


def contract_schemas() -> dict[str, dict[str, object]]:
    """The published message contracts (docs/contracts/*.schema.json), generated from the models."""
    from pydantic import TypeAdapter

    from shared.domain.commands import AnyCommand

    approval = ApprovalRequest.model_json_schema()
    approval["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    steps: dict[str, object] = TypeAdapter(AnyCommand).json_schema()
    steps["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    steps["title"] = "AVD image step message (image-steps queue, internal)"
    return {"approval.schema.json": approval, "step-message.schema.json": steps}
