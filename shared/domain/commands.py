"""Commands: what the service layer is asked to do. Every trigger decodes its input into one.

Each command knows its deterministic message id (DESIGN rule 1, prefixed with the workload:
run ids are unique per workload, and duplicate detection is per queue) and its session (the
workload), so duplicates are detected by the bus and one workload's steps never race.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from shared.domain import naming
from shared.domain.model import BuildReason, Stage, VersionNumber

WorkloadName = Annotated[str, AfterValidator(naming.workload_name)]
RunId = Annotated[str, AfterValidator(naming.run_id)]
VersionText = Annotated[str, AfterValidator(lambda v: str(VersionNumber.parse(v)))]
Person = Annotated[str, Field(min_length=3, max_length=200, pattern=r"^[^\s<>\"'`;\\]+$")]
FreeText = Annotated[str, Field(max_length=1000)]
# A compact JWS (header.payload.signature); what it proves is decided by shared.identity, not here.
Token = Annotated[
    str, Field(min_length=16, max_length=16_000, pattern=r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")
]


class Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    workload: WorkloadName

    @property
    def message_id(self) -> str:
        raise NotImplementedError


class StartBuild(Command):
    """Start a pipeline run: scheduled patch rebuild, catalog change, or an admin's request."""

    kind: Literal["start-build"] = "start-build"
    run_id: RunId
    reason: BuildReason
    requested_by: Person
    prepare_only: bool = False
    # The window a scheduled run is for: a rebuild's patch window, or the month a prepare run serves.
    window: str = Field(default="", pattern=r"^((patch|prepare)-\d{4}-\d{2})?$")

    @property
    def message_id(self) -> str:
        return f"{self.workload}:{self.run_id}:start:0"


class ContinueRun(Command):
    """Advance a run: the next step now, a scheduled re-check, or an Event Grid event."""

    kind: Literal["continue-run"] = "continue-run"
    run_id: RunId
    step: str = Field(pattern=r"^[a-z][a-z-]{1,30}$")
    attempt: int = Field(ge=0)
    trigger: Literal["next", "recheck", "event"] = "next"
    version: VersionText | None = None  # the run's version, so the handler reads run and version at once
    event_lag: float | None = Field(default=None, ge=0)  # an event's delivery delay (its eventTime to routing)

    @property
    def message_id(self) -> str:
        suffix = ":event" if self.trigger == "event" else ""
        return f"{self.workload}:{self.run_id}:{self.step}:{self.attempt}{suffix}"


class Approved(Command):
    """Who decided (a signed token, verified by the handler), on which version, with which reference and why."""

    version: VersionText
    approver_token: Token
    system_token: Token | None = None
    ticket: FreeText = ""
    reason: FreeText = ""
    requested_at: datetime

    @property
    def digest(self) -> str:
        """Derived from the whole content: a corrected approval is never dropped as a duplicate."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:24]


class Promote(Approved):
    """The approval contract: promote one version one stage forward (or roll back, see Rollback)."""

    kind: Literal["promote"] = "promote"
    target_stage: Stage

    @property
    def message_id(self) -> str:
        return f"{self.workload}:{self.version}:promote-{self.target_stage.value}:{self.digest}"


class Rollback(Approved):
    """Withdraw `version` from production and serve the rollback target again: a pointer move."""

    kind: Literal["rollback"] = "rollback"

    @property
    def message_id(self) -> str:
        return f"{self.workload}:{self.version}:rollback:{self.digest}"


class ContinueVersion(Command):
    """Advance a version-level operation (promotion replication, validation) on a re-check or event."""

    kind: Literal["continue-version"] = "continue-version"
    version: VersionText
    operation: Literal["replicate", "validate"]
    attempt: int = Field(ge=0)
    trigger: Literal["next", "recheck", "event"] = "next"
    retry: int = Field(default=0, ge=0)  # the same step again after a transient Azure error

    @property
    def message_id(self) -> str:
        suffix = ":event" if self.trigger == "event" else ""
        retry = f":retry{self.retry}" if self.retry else ""
        return f"{self.workload}:{self.version}:{self.operation}:{self.attempt}{suffix}{retry}"


class Prune(Command):
    """Apply the retention policy; dry run reports decisions without acting."""

    kind: Literal["prune"] = "prune"
    dry_run: bool = False
    requested_at: datetime
    # The hourly sweep lists compute once for every workload and passes each its share
    # (gallery version or definition id -> VMs and scale sets); None: list when applied.
    in_use: dict[str, int] | None = None

    @property
    def message_id(self) -> str:
        return f"{self.workload}:prune:{self.requested_at.isoformat()}"


class StopAtPosition(Command):
    """Stop a run or rollout that cannot go on (dead-lettered step, no progress, what it works on gone).

    Applies only while it is still at `step`/`attempt`: one that moved on since is left alone.
    """

    run_id: RunId
    step: str = Field(pattern=r"^[a-z][a-z-]{1,30}$")
    attempt: int = Field(ge=0)
    reason: FreeText
    source: Literal["dead-letter", "watchdog"]


class FailRun(StopAtPosition):
    """End a build run that cannot go on (its version fails, its temp resources go), if still at step/attempt."""

    kind: Literal["fail-run"] = "fail-run"

    @property
    def message_id(self) -> str:
        return f"{self.workload}:{self.run_id}:fail-{self.source}:{self.step}:{self.attempt}"


class Reconcile(Command):
    """Compare the records (desired state) with the gallery (actual state); repair what is safe."""

    kind: Literal["reconcile"] = "reconcile"
    requested_at: datetime
    after: str = Field(default="timer", pattern=r"^[a-z0-9.:-]{1,80}$")  # what asked: timer, event, a pointer move

    @property
    def message_id(self) -> str:
        return f"{self.workload}:reconcile:{self.after}:{self.requested_at.isoformat()}"


PoolKey = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{2,72}$")]  # pool key or name


class StartRollout(Command):
    """Roll a host pool onto a version (after a production change, or an admin's `avdimage rollout`)."""

    kind: Literal["start-rollout"] = "start-rollout"
    pool: PoolKey
    run_id: RunId
    version: VersionText
    requested_by: Person
    automatic: bool = False
    requested_at: datetime | None = None  # an admin's request (a resume is a new message); None when automatic

    @property
    def message_id(self) -> str:
        stamp = f":{self.requested_at.isoformat()}" if self.requested_at else ""
        return f"{self.workload}:rollout:{self.pool}:{self.run_id}:start{stamp}"


class ContinueRollout(Command):
    """Advance a host pool rollout: the next step now or a scheduled re-check."""

    kind: Literal["continue-rollout"] = "continue-rollout"
    pool: PoolKey
    run_id: RunId
    step: str = Field(pattern=r"^[a-z][a-z-]{1,30}$")
    attempt: int = Field(ge=0)
    trigger: Literal["next", "recheck", "event"] = "next"
    event_lag: float | None = Field(default=None, ge=0)  # an event's delivery delay (its eventTime to routing)

    @property
    def message_id(self) -> str:
        suffix = ":event" if self.trigger == "event" else ""  # an event must not be dropped as the re-check's twin
        return f"{self.workload}:rollout:{self.pool}:{self.run_id}:{self.step}:{self.attempt}{suffix}"


class HaltRollout(StopAtPosition):
    """Halt a host pool rollout that cannot go on (the pool keeps serving), if still at step/attempt."""

    kind: Literal["halt-rollout"] = "halt-rollout"
    pool: PoolKey

    @property
    def message_id(self) -> str:
        return f"{self.workload}:rollout:{self.pool}:{self.run_id}:halt-{self.source}:{self.step}:{self.attempt}"


AnyCommand = Annotated[
    StartBuild
    | ContinueRun
    | Promote
    | Rollback
    | ContinueVersion
    | Prune
    | FailRun
    | Reconcile
    | StartRollout
    | ContinueRollout
    | HaltRollout,
    Field(discriminator="kind"),
]


class Envelope(BaseModel):
    """A command as it travels on the bus: id for duplicate detection, session = workload."""

    model_config = ConfigDict(frozen=True)

    message_id: str
    session_id: str
    subject: str
    body: str  # the command as JSON
    scheduled_for: datetime | None = None

    @classmethod
    def wrap(cls, command: Command, scheduled_for: datetime | None = None) -> Envelope:
        kind: str = getattr(command, "kind", type(command).__name__)
        return cls(
            message_id=command.message_id,
            session_id=command.workload,
            subject=kind,
            body=command.model_dump_json(),
            scheduled_for=scheduled_for,
        )
