"""Image versions, their content and their lifecycle records. Pure pydantic, no azure imports."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.errors import InvalidInput

INT32_MAX = 2**31 - 1
_VERSION = re.compile(r"^(\d{1,10})\.(\d{1,10})\.(\d{1,10})$")
# Ten digits hold any int32, so zero-padded keys sort like versions over the whole range.
_KEY_DIGITS = 10


class VersionNumber(BaseModel):
    """Compute Gallery version name: Major.Minor.Patch, each an int32."""

    model_config = ConfigDict(frozen=True)

    major: int = Field(ge=0, le=INT32_MAX)
    minor: int = Field(ge=0, le=INT32_MAX)
    patch: int = Field(ge=0, le=INT32_MAX)

    @classmethod
    def parse(cls, text: object) -> VersionNumber:
        match = _VERSION.fullmatch(text) if isinstance(text, str) else None
        parts = [int(p) for p in match.groups()] if match else []
        if not match or any(p > INT32_MAX for p in parts):
            shown = repr(text[:40]) if isinstance(text, str) else type(text).__name__
            raise InvalidInput(f"invalid version {shown}: use Major.Minor.Patch, each 0..{INT32_MAX}")
        return cls(major=parts[0], minor=parts[1], patch=parts[2])

    @classmethod
    def from_key(cls, key: str) -> VersionNumber:
        return cls.parse(".".join(str(int(p)) for p in key.split(".")))

    @property
    def key(self) -> str:
        """Zero-padded form for Table Storage row keys."""
        return ".".join(str(p).zfill(_KEY_DIGITS) for p in (self.major, self.minor, self.patch))

    def as_tuple(self) -> tuple[int, int, int]:
        return (self.major, self.minor, self.patch)

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"

    def __lt__(self, other: VersionNumber) -> bool:
        return self.as_tuple() < other.as_tuple()

    def __le__(self, other: VersionNumber) -> bool:
        return self.as_tuple() <= other.as_tuple()

    def __gt__(self, other: VersionNumber) -> bool:
        return self.as_tuple() > other.as_tuple()

    def __ge__(self, other: VersionNumber) -> bool:
        return self.as_tuple() >= other.as_tuple()


class BuildReason(StrEnum):
    """Why a build ran; decides the version bump."""

    PATCH = "patch"  # scheduled patch rebuild -> patch bump
    CATALOG_CHANGE = "catalog-change"  # customizations or settings changed -> minor bump
    NEW_OS_BASE = "new-os-base"  # a new OS base (e.g. 24H2 -> 25H2) -> major bump
    FIRST = "first"  # the workload's first version: 1.0.0


def next_version(previous: VersionNumber | None, reason: BuildReason) -> VersionNumber:
    """Bump rules: patch for patch rebuilds, minor for catalog changes, major for a new OS base."""
    if previous is None:
        return VersionNumber(major=1, minor=0, patch=0)
    if reason is BuildReason.NEW_OS_BASE:
        return VersionNumber(major=previous.major + 1, minor=0, patch=0)
    if reason is BuildReason.CATALOG_CHANGE:
        return VersionNumber(major=previous.major, minor=previous.minor + 1, patch=0)
    return VersionNumber(major=previous.major, minor=previous.minor, patch=previous.patch + 1)


class Stage(StrEnum):
    TEST = "test"
    VALIDATION = "validation"
    PRODUCTION = "production"
    DR = "dr"

    @property
    def order(self) -> int:
        return list(Stage).index(self)

    def next(self) -> Stage | None:
        stages = list(Stage)
        return stages[self.order + 1] if self.order + 1 < len(stages) else None


class Status(StrEnum):
    """Where a version is in its life. Stage says how far it got; status says what it is doing."""

    BUILDING = "building"  # source VM prepared, clone/BitLocker/sysprep under way
    CAPTURING = "capturing"  # gallery version being created
    REPLICATING = "replicating"  # replicating to the regions of `target_stage`
    READY = "ready"  # serves `stage`
    SUPERSEDED = "superseded"  # was production; a newer version replaced it (rollback candidate)
    WITHDRAWN = "withdrawn"  # was production; rolled back from, kept for investigation
    FAILED = "failed"
    DEPRECATED = "deprecated"  # endOfLifeDate set, will be deleted after the grace period
    DELETED = "deleted"


class App(BaseModel):
    model_config = ConfigDict(frozen=True)
    name: str
    version: str


class Manifest(BaseModel):
    """What is inside an image: recorded at build, compared at clone and validation."""

    model_config = ConfigDict(frozen=True)

    os_build: str = ""
    os_display_version: str = ""
    hotfixes: tuple[str, ...] = ()
    apps: tuple[App, ...] = ()
    registry: dict[str, str] = Field(default_factory=dict)

    def digest(self) -> str:
        """Stable short hash for tags and drift checks."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


class Approval(BaseModel):
    """One verified approval: `principal` is the token's object id, `approver` its display name."""

    model_config = ConfigDict(frozen=True)
    stage: Stage
    approver: str
    principal: str = ""  # Entra object id (oid) of the verified token's subject
    as_approver: str = ""  # the catalog entry (label) that allowed it, e.g. "Change board"
    via: str = ""  # the approval system (workload identity or client app) it came through
    action: Literal["promote", "rollback"] = "promote"
    message: str = ""  # digest of the approval message, so a redelivery is recognised, not refused
    ticket: str = ""
    reason: str = ""
    at: datetime  # when it was verified and recorded; approvals expire after AVD_APPROVAL_VALID_HOURS


class ValidationEvidence(BaseModel):
    model_config = ConfigDict(frozen=True)
    stage: Stage
    passed: bool
    region: str = ""
    checks: dict[str, str] = Field(default_factory=dict)
    at: datetime


class BitLockerEvidence(BaseModel):
    model_config = ConfigDict(frozen=True)
    state_before: str
    state_after: str = ""
    started_at: datetime
    finished_at: datetime | None = None
    prevent_device_encryption: bool = False

    @property
    def minutes(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds() / 60


class PendingOperation(BaseModel):
    """An Azure operation a step started and continues on (Event Grid event or re-check)."""

    model_config = ConfigDict(frozen=True)
    kind: str  # e.g. "vm-create", "bitlocker-decrypt", "sysprep", "version-create", "script:inventory"
    resource_id: str = ""
    started_at: datetime
    checks: int = 0
    operation: str = ""  # where to ask for the result (Run Command's result URL)
    retry_after: float | None = None  # seconds Azure asked to wait before looking (the LRO's Retry-After)


class ImageVersion(BaseModel):
    """One image version's record. Content fields are fixed at capture; lifecycle fields move."""

    model_config = ConfigDict(frozen=True)

    workload: str
    version: VersionNumber
    display_name: str
    build_reason: BuildReason
    run_id: str
    requested_by: str
    created_at: datetime
    source_image: str  # marketplace URN or source VM id the build started from
    manifest: Manifest = Field(default_factory=Manifest)
    status: Status = Status.BUILDING
    stage: Stage | None = None  # furthest stage reached; None until replicated to test
    target_stage: Stage | None = None  # while REPLICATING
    failure_reason: str = ""
    approvals: tuple[Approval, ...] = ()
    validations: tuple[ValidationEvidence, ...] = ()
    bitlocker: BitLockerEvidence | None = None
    drift: tuple[str, ...] = ()
    end_of_life: datetime | None = None
    gallery_version_id: str = ""
    event_count: int = 0  # audit entries written so far; the next one's sequence number
    pending: PendingOperation | None = None  # version-level operation (promotion replication, validation)
    op_attempt: int = 0  # position of the version-level operation, for deterministic message ids
    replication_retries: dict[str, int] = Field(default_factory=dict)
    etag: str | None = Field(default=None, exclude=True)

    def validated_for(self, stage: Stage) -> bool:
        latest = [v for v in self.validations if v.stage is stage]
        return bool(latest) and latest[-1].passed

    def approved_for(self, stage: Stage) -> Approval | None:
        return next((a for a in reversed(self.approvals) if a.stage is stage), None)

    def evolve(self, **changes: Any) -> ImageVersion:
        """A changed copy that keeps the ETag it was read with (content fields are never passed)."""
        return self.model_copy(update=changes)


class LifecycleEvent(BaseModel):
    """One audit entry: what changed, when, who or what asked, and why."""

    model_config = ConfigDict(frozen=True)

    workload: str
    version: VersionNumber | None
    seq: int
    at: datetime
    kind: str  # e.g. "captured", "promoted", "promotion-refused", "rolled-back"
    actor: str  # a person (approver) or a component ("scheduler", "step:capture")
    detail: str
    from_status: Status | None = None
    to_status: Status | None = None
    stage: Stage | None = None


class Pointers(BaseModel):
    """Which version each stage serves, and the production rollback target."""

    model_config = ConfigDict(frozen=True)

    workload: str
    test: VersionNumber | None = None
    validation: VersionNumber | None = None
    production: VersionNumber | None = None
    dr: VersionNumber | None = None
    rollback: VersionNumber | None = None
    active_run: str | None = None  # at most one pipeline run per workload at a time
    newest: VersionNumber | None = None  # highest version ever created; numbers are never reused
    last_rollback: str = ""  # id of the last rollback request applied, so a redelivery is a no-op
    event_count: int = 0  # workload-level audit entries (refusals about no particular version)
    # The workload's own order of run starts (+1 with the ETag at each), and the patch window of the
    # newest scheduled start: what decides the schedule, whatever the clock of the instance reading it.
    sequence: int = 0
    window: str = ""  # e.g. "patch-2026-12"; windows sort in time order
    prepared: str = ""  # the newest month whose prepare run started, e.g. "prepare-2026-12"
    # Seconds each operation of the workload's last finished run took (pending kind -> seconds):
    # what the next run's waits start from (shared/steps/history.py).
    took: dict[str, float] = Field(default_factory=dict)
    event_lag: float | None = None  # how late Event Grid delivered to the last finished run (seconds)
    # The source VM's OS disk a finished run's inventory saw FullyDecrypted with
    # PreventDeviceEncryption=1: the next run on that disk does not turn BitLocker off again.
    source_decrypted: str = ""
    etag: str | None = Field(default=None, exclude=True)

    def serving(self, stage: Stage) -> VersionNumber | None:
        value: VersionNumber | None = getattr(self, stage.value)
        return value

    def evolve(self, **changes: Any) -> Pointers:
        return self.model_copy(update=changes)

    def in_use(self) -> set[VersionNumber]:
        values = (self.test, self.validation, self.production, self.dr, self.rollback)
        return {v for v in values if v is not None}


class RunState(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Run(BaseModel):
    """One pipeline run of one workload: which step it is on and what it waits for."""

    model_config = ConfigDict(frozen=True)

    workload: str
    run_id: str
    reason: BuildReason
    requested_by: str
    started_at: datetime
    version: VersionNumber | None = None
    step: str = "build"
    attempt: int = 0
    state: RunState = RunState.RUNNING
    prepare_only: bool = False
    window: str = ""  # the patch window this build fills (its workload's row records it when it succeeds)
    pending: PendingOperation | None = None
    failure_reason: str = ""
    ended_at: datetime | None = None
    source_manifest: Manifest | None = None
    source_image: str = ""
    source_os_disk_id: str = ""
    source_decrypted: str = ""  # the OS disk id when its inventory saw it FullyDecrypted, PreventDeviceEncryption=1
    customization_index: int = 0
    customization_pass: int = 0  # Windows Update runs in passes, with restarts between them
    step_started_at: datetime | None = None
    marks: dict[str, datetime] = Field(default_factory=dict)  # when a step's milestones happened
    step_times: dict[str, float] = Field(default_factory=dict)  # simulated Azure seconds per step
    # The current step's age, counted on this record one delivery at a time (steps/deadlines.py).
    step_progress: float = 0.0  # seconds counted so far
    step_seen: datetime | None = None  # when the step was last handled
    step_wait: float = 0.0  # seconds the last delivery asked the broker to wait before the next
    event_lag: float | None = None  # the longest delay (s) of the Event Grid events that continued it
    took: dict[str, float] = Field(default_factory=dict)  # seconds each pending operation took (by kind)
    etag: str | None = Field(default=None, exclude=True)

    def evolve(self, **changes: Any) -> Run:
        return self.model_copy(update=changes)


class RejectedMessage(BaseModel):
    """A message refused as invalid or not allowed: kept with its reason, never silently dropped."""

    model_config = ConfigDict(frozen=True)

    source: str  # "image-approvals", "image-steps", "event-grid"
    message_id: str
    subject: str = ""
    body: str  # as received (truncated to 30 000 characters), for inspection and resubmission
    reason: str
    at: datetime
