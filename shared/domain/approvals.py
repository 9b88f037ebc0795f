"""The approval contract: what an approval system (ServiceNow, Jira, a pipeline) puts on the
`image-approvals` queue to promote a version one stage forward, or to roll production back.

docs/contracts/approval.schema.json is generated from this model (`avdimage schema`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from shared.domain.commands import FreeText, Person, Promote, Rollback, VersionText, WorkloadName
from shared.domain.model import Stage


class ApprovalRequest(BaseModel):
    """One approval decision. Unknown fields are refused so typos never pass silently."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        title="AVD image approval",
        json_schema_extra={
            "examples": [
                {
                    "action": "promote",
                    "workload": "office",
                    "version": "1.4.0",
                    "target_stage": "production",
                    "approver": "change-board@contoso.com",
                    "ticket": "CHG0031337",
                    "reason": "Pilot ring signed off",
                    "requested_at": "2026-11-24T09:30:00Z",
                },
                {
                    "action": "rollback",
                    "workload": "office",
                    "approver": "change-board@contoso.com",
                    "ticket": "INC0042",
                    "reason": "Teams crashes at sign-in",
                    "requested_at": "2026-11-25T07:10:00Z",
                },
            ]
        },
    )

    action: Literal["promote", "rollback"] = Field(default="promote", description="promote one stage, or roll back")
    workload: WorkloadName = Field(description="Workload name as in the catalog, e.g. 'office'")
    version: VersionText | None = Field(default=None, description="Major.Minor.Patch; required to promote")
    target_stage: Stage | None = Field(default=None, description="The next stage; required to promote")
    approver: Person = Field(description="Who approved (must be an allowed approver of the stage)")
    ticket: FreeText = Field(default="", description="Change or incident reference")
    reason: FreeText = Field(default="", description="Why, in words a later admin will understand")
    requested_at: AwareDatetime = Field(description="When the approval was given (ISO 8601 with time zone)")

    @model_validator(mode="after")
    def promotion_names_version_and_stage(self) -> Self:
        if self.action == "promote" and (self.version is None or self.target_stage is None):
            raise ValueError("a promotion needs both 'version' and 'target_stage'")
        if self.action == "rollback" and (self.version is not None or self.target_stage is not None):
            raise ValueError("a rollback takes no 'version' or 'target_stage': it restores the rollback target")
        return self

    def to_command(self) -> Promote | Rollback:
        requested_at: datetime = self.requested_at
        if self.action == "rollback":
            return Rollback(
                workload=self.workload,
                approver=self.approver,
                ticket=self.ticket,
                reason=self.reason,
                requested_at=requested_at,
            )
        if self.version is None or self.target_stage is None:  # the validator makes this impossible
            raise ValueError("a promotion needs both 'version' and 'target_stage'")
        return Promote(
            workload=self.workload,
            version=self.version,
            target_stage=self.target_stage,
            approver=self.approver,
            ticket=self.ticket,
            reason=self.reason,
            requested_at=requested_at,
        )


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
