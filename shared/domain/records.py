"""The record store port: what the service layer needs from Table Storage, nothing more."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from shared.domain.health import WorkloadHealth
from shared.domain.model import (
    ImageVersion,
    LifecycleEvent,
    Pointers,
    RejectedMessage,
    Run,
    Stage,
    Status,
    VersionNumber,
)


@dataclass(frozen=True)
class AuditEntry:
    """An audit entry to append; the store numbers it within its version (or the workload)."""

    at: datetime
    kind: str
    actor: str
    detail: str
    version: VersionNumber | None = None
    from_status: Status | None = None
    to_status: Status | None = None
    stage: Stage | None = None


@dataclass
class Changes:
    """Everything one state transition writes: committed atomically in one partition.

    Records read from the store carry their ETag and are updated only if unchanged since;
    records without one are created and must not exist yet.
    """

    workload: str
    versions: list[ImageVersion] = field(default_factory=list)
    pointers: Pointers | None = None
    run: Run | None = None
    audit: list[AuditEntry] = field(default_factory=list)


@dataclass(frozen=True)
class Loaded:
    """Records read together in one round trip (one single-partition query)."""

    pointers: Pointers
    run: Run | None = None
    version: ImageVersion | None = None


@dataclass(frozen=True)
class WorkloadRecords:
    """A workload's pointers, runs and versions from one single-partition query (no audit rows)."""

    pointers: Pointers
    runs: list[Run]
    versions: list[ImageVersion]
    health: WorkloadHealth | None = None  # the last reconcile pass's result


class RecordStore(Protocol):
    def load_workload(self, workload: str) -> WorkloadRecords: ...

    def load(self, workload: str, *, run_id: str | None = None, version: VersionNumber | None = None) -> Loaded:
        """The workload's pointers plus, optionally, one run and one version, in one query."""
        ...

    def get_version(self, workload: str, version: VersionNumber) -> ImageVersion: ...

    def find_version(self, workload: str, version: VersionNumber) -> ImageVersion | None: ...

    def list_versions(self, workload: str) -> list[ImageVersion]: ...

    def get_pointers(self, workload: str) -> Pointers: ...

    def find_run(self, workload: str, run_id: str) -> Run | None: ...

    def list_runs(self, workload: str) -> list[Run]: ...

    def list_events(self, workload: str, version: VersionNumber | None = None) -> list[LifecycleEvent]: ...

    def commit(self, changes: Changes) -> None:
        """Write all or nothing; raise ConcurrencyConflict if any record changed since it was read."""
        ...

    def reject(self, message: RejectedMessage) -> None:
        """Keep a refused message with its reason (a redelivered duplicate overwrites itself)."""
        ...

    def list_rejections(self) -> list[RejectedMessage]: ...

    def put_health(self, health: WorkloadHealth) -> None:
        """Keep the latest reconcile result of a workload (its own row, upserted)."""
        ...

    def get_health(self, workload: str) -> WorkloadHealth | None: ...

    # What this instance itself committed last, without a round trip; None if it committed no such
    # record (or forgot it). A hint: another instance may have moved the record on since. Positions
    # (Run.attempt, ImageVersion.op_attempt) only grow, so a message older than the hint is stale
    # for sure; route and drop with it, never commit from it (its ETag is the one it replaced).
    def recall_run(self, workload: str, run_id: str) -> Run | None: ...

    def recall_version(self, workload: str, version: VersionNumber) -> ImageVersion | None: ...

    def recall_pointers(self, workload: str) -> Pointers | None: ...


def number_audit(changes: Changes) -> tuple[list[ImageVersion], Pointers | None, list[LifecycleEvent]]:
    """Give each audit entry its sequence number and bump the owning record's counter.

    Shared by every store so numbering cannot drift between the fake and Table Storage.
    """
    versions = {v.version: v for v in changes.versions}
    pointers = changes.pointers
    events: list[LifecycleEvent] = []
    for entry in changes.audit:
        if entry.version is not None:
            owner = versions.get(entry.version)
            if owner is None:
                raise ValueError(f"audit entry for {entry.version} needs that version in the same commit")
            seq = owner.event_count
            versions[entry.version] = owner.evolve(event_count=seq + 1)
        else:
            if pointers is None:
                raise ValueError("a workload-level audit entry needs the pointers record in the same commit")
            seq = pointers.event_count
            pointers = pointers.evolve(event_count=seq + 1)
        events.append(
            LifecycleEvent(
                workload=changes.workload,
                version=entry.version,
                seq=seq,
                at=entry.at,
                kind=entry.kind,
                actor=entry.actor,
                detail=entry.detail,
                from_status=entry.from_status,
                to_status=entry.to_status,
                stage=entry.stage,
            )
        )
    return list(versions.values()), pointers, events
