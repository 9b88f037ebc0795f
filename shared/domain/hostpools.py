"""Host pools a workload serves: the rollout policy (catalog), what runs where (inventory), the rollout
record, and the port to Azure Virtual Desktop. Pure: no azure imports.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Annotated, Any, Protocol, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from shared.domain.model import PendingOperation

POOL_ID = re.compile(
    r"^/subscriptions/(?P<sub>[0-9a-fA-F-]{36})/resourceGroups/(?P<rg>[-\w._()]{1,90})"
    r"/providers/Microsoft\.DesktopVirtualization/hostPools/(?P<name>[A-Za-z0-9][A-Za-z0-9._-]{2,63})$",
    re.IGNORECASE,
)
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
DEFAULT_MESSAGE = (
    "This desktop gets its monthly image update. Please save your work and sign out; "
    "you can sign in again at once and will land on an updated host."
)


def _pool_id(value: str) -> str:
    if not POOL_ID.match(value):
        raise ValueError(
            "must be a host pool resource id: /subscriptions/<guid>/resourceGroups/<group>"
            "/providers/Microsoft.DesktopVirtualization/hostPools/<name>"
        )
    return value


def _day(value: str) -> str:
    lowered = value.strip().lower()
    for day in DAYS:
        if lowered in (day, day[:3]):
            return day
    raise ValueError(f"unknown day {value!r}: use monday..sunday (or mon..sun)")


def _clock(value: str) -> str:
    if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
        raise ValueError(f"start {value!r} must be HH:MM (24-hour), e.g. 22:00")
    return value


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        hint = [z for z in sorted(available_timezones()) if z.lower().endswith(value.lower().split("/")[-1])][:3]
        raise ValueError(
            f"unknown time zone {value!r}: use an IANA name such as Europe/Amsterdam"
            + (f" (did you mean {', '.join(hint)}?)" if hint else "")
        ) from None
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class MaintenanceWindow(_Strict):
    """When automatic rollouts may start batches: days, local start time, duration, time zone."""

    days: tuple[Annotated[str, AfterValidator(_day)], ...] = Field(min_length=1)
    start: Annotated[str, AfterValidator(_clock)]
    duration_minutes: int = Field(ge=30, le=24 * 60)
    time_zone: Annotated[str, AfterValidator(_zone)] = "UTC"

    def _opening(self, day: datetime) -> datetime:
        hour, minute = (int(p) for p in self.start.split(":"))
        local = day.astimezone(ZoneInfo(self.time_zone))
        return datetime.combine(local.date(), time(hour, minute), ZoneInfo(self.time_zone))

    def contains(self, at: datetime) -> bool:
        """Whether `at` falls inside an opening (one that began yesterday may still be open)."""
        for back in (0, 1):
            opening = self._opening(at - timedelta(days=back))
            if DAYS[opening.weekday()] in self.days and opening <= at < opening + self.length:
                return True
        return False

    @property
    def length(self) -> timedelta:
        return timedelta(minutes=self.duration_minutes)

    def next_opening(self, after: datetime) -> datetime:
        """`after` itself when inside a window, else the start of the next one."""
        if self.contains(after):
            return after
        for ahead in range(8):
            opening = self._opening(after + timedelta(days=ahead))
            if DAYS[opening.weekday()] in self.days and opening > after:
                return opening
        raise ValueError("a maintenance window with days always opens within a week")


class RolloutMode(StrEnum):
    AUTO = "auto"  # after a production promotion (or rollback), in the pool's maintenance window
    MANUAL = "manual"  # only `avdimage rollout <pool>`


class HostPoolPolicy(_Strict):
    """A host pool the workload serves and how hosts are moved onto a new production version."""

    id: Annotated[str, AfterValidator(_pool_id)]
    rollout: RolloutMode = RolloutMode.MANUAL
    batch_size: int | None = Field(default=None, ge=1, le=500)
    max_unavailable_percent: int | None = Field(default=None, ge=1, le=100)
    min_available: int = Field(default=1, ge=0, le=1000, description="Hosts that must stay Available")
    drain_grace_minutes: int = Field(default=60, ge=0, le=24 * 60)
    message_title: str = Field(default="Image update", min_length=1, max_length=100)
    message: str = Field(default=DEFAULT_MESSAGE, min_length=1, max_length=1000)
    maintenance_window: MaintenanceWindow | None = None
    failure_threshold: int = Field(default=1, ge=1, le=100, description="Failed hosts that halt the rollout")
    available_timeout_minutes: int = Field(default=45, ge=10, le=24 * 60)

    @model_validator(mode="after")
    def consistent(self) -> Self:
        if self.batch_size is not None and self.max_unavailable_percent is not None:
            raise ValueError("set batch_size or max_unavailable_percent, not both")
        if self.rollout is RolloutMode.AUTO and self.maintenance_window is None:
            raise ValueError("rollout = 'auto' needs a [host_pools.maintenance_window] (days, start, duration)")
        return self

    @property
    def name(self) -> str:
        return str(POOL_ID.match(self.id)["name"])  # type: ignore[index] # validated

    @property
    def resource_group(self) -> str:
        return str(POOL_ID.match(self.id)["rg"])  # type: ignore[index] # validated

    @property
    def key(self) -> str:
        """A Table Storage row-key part: the name plus a digest of the id (names repeat across groups)."""
        return f"{self.name.lower()}-{hashlib.sha256(self.id.lower().encode()).hexdigest()[:8]}"

    def batch(self, hosts: int) -> int:
        if self.batch_size is not None:
            return self.batch_size
        if self.max_unavailable_percent is not None:
            return max(1, math.floor(hosts * self.max_unavailable_percent / 100))
        return 1


# -- what Azure reports ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class SessionHostState:
    """One session host joined to its VM: the image it runs, drain, sessions, health."""

    name: str  # the session host name (FQDN) within the pool
    status: str  # Available | Unavailable | Shutdown | ...
    last_heartbeat: datetime | None
    allow_new_session: bool
    sessions: int
    vm_id: str
    image_id: str = ""  # storageProfile.imageReference.id (gallery definition or version)
    exact_version: str = ""  # storageProfile.imageReference.exactVersion

    @property
    def vm_name(self) -> str:
        return self.vm_id.rstrip("/").split("/")[-1]

    @property
    def available(self) -> bool:
        return self.status == "Available" and self.allow_new_session


@dataclass(frozen=True)
class HostSpec:
    """What recreating a session host needs from its VM, read before it is deleted."""

    vm_id: str
    location: str
    size: str
    nic_ids: tuple[str, ...]
    computer_name: str
    trusted_launch: bool
    os_disk_id: str
    tags: dict[str, str] = field(default_factory=dict)


class HostPools(Protocol):
    """The port to Azure Virtual Desktop (and the VMs behind its session hosts)."""

    def hosts(self, pool_id: str) -> list[SessionHostState]: ...

    def set_drain(self, pool_id: str, host: str, drained: bool) -> None: ...

    def sessions(self, pool_id: str, host: str) -> list[str]: ...

    def send_message(self, pool_id: str, host: str, session: str, title: str, text: str) -> None: ...

    def log_off(self, pool_id: str, host: str, session: str) -> None: ...

    def remove_host(self, pool_id: str, host: str) -> None:
        """Remove the session host object (forced: its users are gone by then)."""
        ...

    def host_spec(self, vm_id: str) -> HostSpec | None: ...

    def start_delete_vm(self, vm_id: str) -> None: ...

    def start_delete_disk(self, disk_id: str) -> None: ...

    def vm_state(self, vm_id: str) -> str:
        """Missing | InProgress | Succeeded | Failed, and which image it runs is in hosts()."""
        ...

    def start_create_vm(self, spec: HostSpec, image_version_id: str, tags: dict[str, str]) -> None: ...

    def registration_token(self, pool_id: str, now: datetime, valid_for: timedelta) -> str:
        """A valid token, renewed when it expires within `valid_for`."""
        ...

    def start_register(self, vm_id: str, location: str, pool_id: str, token: str) -> None:
        """Install the AVD agent (DSC extension) with the token; the VM joins the pool."""
        ...

    def registration_state(self, vm_id: str) -> str: ...


# -- inventory --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PoolInventory:
    workload: str
    pool: HostPoolPolicy
    hosts: tuple[SessionHostState, ...]
    error: str = ""

    def by_version(self) -> Counter[str]:
        return Counter(h.exact_version or "unknown" for h in self.hosts)

    @property
    def drained(self) -> int:
        return sum(1 for h in self.hosts if not h.allow_new_session)

    @property
    def with_sessions(self) -> int:
        return sum(1 for h in self.hosts if h.sessions > 0)

    @property
    def available(self) -> int:
        return sum(1 for h in self.hosts if h.available)


def versions_in_use(inventories: list[PoolInventory]) -> dict[str, list[str]]:
    """Version -> pools whose hosts run it (for retention and `avdimage status`)."""
    used: dict[str, list[str]] = {}
    for inv in inventories:
        for version in sorted(inv.by_version()):
            used.setdefault(version, []).append(inv.pool.name)
    return used


# -- the rollout record --------------------------------------------------------------------------------------
class RolloutState(StrEnum):
    RUNNING = "running"
    HALTED = "halted"  # failure threshold reached: the pool keeps serving, an admin decides
    SUCCEEDED = "succeeded"
    SUPERSEDED = "superseded"  # production moved on (or back) before it finished


class HostFailure(BaseModel):
    model_config = ConfigDict(frozen=True)
    host: str
    reason: str
    at: datetime


class Rollout(BaseModel):
    """One rollout of one host pool onto one version: where it is, which hosts, what failed."""

    model_config = ConfigDict(frozen=True)

    workload: str
    pool_id: str
    pool_key: str
    run_id: str
    target_version: str
    target_image_id: str
    requested_by: str
    automatic: bool = False
    state: RolloutState = RolloutState.RUNNING
    step: str = "plan"
    attempt: int = 0
    batch: tuple[str, ...] = ()  # session host names being replaced now
    specs: dict[str, dict[str, Any]] = Field(default_factory=dict)  # host -> HostSpec fields, read before delete
    done: tuple[str, ...] = ()
    failed: tuple[HostFailure, ...] = ()
    failures_since_resume: int = 0
    retry: tuple[str, ...] = ()  # hosts that failed before a resume: replaced again even if on the version
    vm_ids: dict[str, str] = Field(default_factory=dict)  # session host -> VM resource id
    drained_at: datetime | None = None
    registered_at: datetime | None = None
    pending: PendingOperation | None = None
    started_at: datetime
    step_started_at: datetime | None = None
    ended_at: datetime | None = None
    checked_at: datetime | None = None  # the last commit of a step (the watchdog's "progress")
    next_check_at: datetime | None = None  # when the scheduled re-check is due (None: the next step is sent now)
    reason: str = ""
    successor: dict[str, str] | None = None  # a newer request (version, run_id, requested_by) waiting its turn
    batches: int = 0
    wait_seconds: float = 0.0  # time spent waiting for users and the maintenance window
    event_lag: float | None = None  # the longest delay (s) of the Event Grid events that continued it
    etag: str | None = Field(default=None, exclude=True)

    def evolve(self, **changes: Any) -> Rollout:
        return self.model_copy(update=changes)

    @property
    def failed_hosts(self) -> set[str]:
        return {f.host for f in self.failed}


class PoolRecord(BaseModel):
    """Per host pool: the active rollout (one at a time) and the audit counter."""

    model_config = ConfigDict(frozen=True)

    workload: str
    pool_key: str
    pool_id: str
    active_run: str | None = None
    last_run: str | None = None
    event_count: int = 0
    etag: str | None = Field(default=None, exclude=True)

    def evolve(self, **changes: Any) -> PoolRecord:
        return self.model_copy(update=changes)


class RolloutEvent(BaseModel):
    """One audit entry of a pool's rollouts."""

    model_config = ConfigDict(frozen=True)

    workload: str
    pool_key: str
    seq: int
    at: datetime
    run_id: str
    kind: str
    detail: str
    host: str = ""


@dataclass(frozen=True)
class Note:
    """An audit entry to append to a pool's trail."""

    at: datetime
    run_id: str
    kind: str
    detail: str
    host: str = ""


class RolloutRecords(Protocol):
    def load(self, workload: str, pool_key: str, pool_id: str, run_id: str | None) -> tuple[PoolRecord, Rollout | None]:
        """The pool's record (empty if new) and optionally one run, in one query."""
        ...

    def commit(self, pool: PoolRecord, runs: list[Rollout], notes: list[Note]) -> None:
        """All or nothing; ConcurrencyConflict if the pool or run changed since read."""
        ...

    def runs(self, workload: str, pool_key: str) -> list[Rollout]: ...

    def events(self, workload: str, pool_key: str) -> list[RolloutEvent]: ...
