"""Read models for people: the catalog an admin picks an image from, histories and diffs.

Shared by the CLI, the HTTP functions and the status page, so all three say the same thing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from shared.domain.catalog import Workload
from shared.domain.model import ImageVersion, LifecycleEvent, Pointers, Status, VersionNumber
from shared.steps.deps import Deps


class VersionRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    version: str
    display_name: str
    gallery_version_id: str  # the ARM resource id hosts are deployed from
    status: str
    stage: str | None
    badges: list[str]
    created_at: datetime
    build_reason: str
    os_build: str
    end_of_life: datetime | None
    vms: int | None  # VMs and scale sets using it; None when not looked up
    approvals: list[str]
    failure_reason: str


class WorkloadSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    os_label: str
    workload_label: str
    owner: str
    purpose: str
    image_definition: str
    production: VersionRow | None
    rollback_target: VersionRow | None
    dr: VersionRow | None
    in_validation: list[VersionRow]
    in_test: list[VersionRow]
    deprecated: list[VersionRow]
    versions: list[VersionRow]
    active_run: str | None


def badges(version: ImageVersion, pointers: Pointers, pinned: set[VersionNumber]) -> list[str]:
    found = []
    roles = [
        ("production", pointers.production),
        ("rollback target", pointers.rollback),
        ("dr", pointers.dr),
        ("validation", pointers.validation),
        ("test", pointers.test),
    ]
    found += [name for name, pointed in roles if pointed == version.version]
    if version.status in (Status.DEPRECATED, Status.WITHDRAWN, Status.FAILED, Status.DELETED):
        found.append(version.status.value)
    elif version.status in (Status.BUILDING, Status.CAPTURING, Status.REPLICATING):
        found.append("in progress")
    if version.version in pinned:
        found.append("pinned")
    return found


def version_row(
    version: ImageVersion, pointers: Pointers, pinned: set[VersionNumber], usage: Mapping[str, int] | None
) -> VersionRow:
    return VersionRow(
        version=str(version.version),
        display_name=version.display_name,
        gallery_version_id=version.gallery_version_id,
        status=version.status.value,
        stage=version.stage.value if version.stage else None,
        badges=badges(version, pointers, pinned),
        created_at=version.created_at,
        build_reason=version.build_reason.value,
        os_build=version.manifest.os_build,
        end_of_life=version.end_of_life,
        vms=None if usage is None else usage.get(version.gallery_version_id.lower(), 0),
        approvals=[
            f"{a.stage.value if a.action == 'promote' else 'rollback'}: {a.approver} {a.ticket}".strip()
            for a in version.approvals
        ],
        failure_reason=version.failure_reason,
    )


def workload_summary(workload: Workload, deps: Deps, usage: Mapping[str, int] | None = None) -> WorkloadSummary:
    """One partition query: pointers, runs and versions together."""
    records = deps.records.load_workload(workload.name)
    pointers = records.pointers
    pinned = {VersionNumber.parse(p) for p in workload.retention.pinned}
    rows = {
        v.version: version_row(v, pointers, pinned, usage)
        for v in sorted(records.versions, key=lambda v: v.version, reverse=True)
        if v.status is not Status.DELETED
    }

    def pointed(number: VersionNumber | None) -> VersionRow | None:
        return rows.get(number) if number is not None else None

    ready_in = {
        stage: [r for r in rows.values() if r.status == Status.READY.value and r.stage == stage]
        for stage in ("test", "validation")
    }
    return WorkloadSummary(
        name=workload.name,
        os_label=workload.os_label,
        workload_label=workload.workload_label,
        owner=workload.owner,
        purpose=workload.purpose,
        image_definition=f"{workload.gallery.name}/{workload.gallery.definition}",
        production=pointed(pointers.production),
        rollback_target=pointed(pointers.rollback),
        dr=pointed(pointers.dr),
        in_validation=ready_in["validation"],
        in_test=ready_in["test"],
        deprecated=[r for r in rows.values() if r.status == Status.DEPRECATED.value],
        versions=list(rows.values()),
        active_run=pointers.active_run,
    )


def catalog_view(deps: Deps, *, with_usage: bool = False) -> list[WorkloadSummary]:
    usage = deps.compute.images_in_use() if with_usage else None
    return [workload_summary(w, deps, usage) for w in deps.catalog.workloads]


def history(deps: Deps, workload: str) -> list[LifecycleEvent]:
    deps.workload(workload)
    return deps.records.list_events(workload)


class EventRow(BaseModel):
    """One audit entry as people and scripts read it: the version as "1.0.2", like everywhere else."""

    model_config = ConfigDict(frozen=True)

    workload: str
    version: str | None
    seq: int
    at: datetime
    kind: str
    actor: str
    detail: str
    stage: str | None
    from_status: str | None
    to_status: str | None


def event_row(event: LifecycleEvent) -> EventRow:
    return EventRow(
        workload=event.workload,
        version=str(event.version) if event.version else None,
        seq=event.seq,
        at=event.at,
        kind=event.kind,
        actor=event.actor,
        detail=event.detail,
        stage=event.stage.value if event.stage else None,
        from_status=event.from_status.value if event.from_status else None,
        to_status=event.to_status.value if event.to_status else None,
    )


@dataclass(frozen=True)
class HistoryFilter:
    """Which audit entries `avdimage history` shows; empty fields match everything."""

    since: datetime | None = None
    stage: str | None = None
    kinds: tuple[str, ...] = ()
    version: str | None = None
    limit: int = 0  # the newest N; 0 for all

    def apply(self, events: Sequence[LifecycleEvent]) -> tuple[list[LifecycleEvent], int]:
        """The matching entries oldest first (the newest `limit` of them) and how many matched."""
        kinds = {k.lower() for k in self.kinds}
        matched = [
            e
            for e in sorted(events, key=lambda e: (e.at, e.seq))
            if (self.since is None or e.at >= self.since)
            and (self.stage is None or (e.stage is not None and e.stage.value == self.stage))
            and (not kinds or e.kind.lower() in kinds)
            and (self.version is None or str(e.version) == self.version)
        ]
        shown = matched[-self.limit :] if self.limit else matched
        return shown, len(matched)


class ManifestDiff(BaseModel):
    model_config = ConfigDict(frozen=True)

    workload: str
    older: str
    newer: str
    os_build: tuple[str, str] | None
    hotfixes_added: list[str]
    hotfixes_removed: list[str]
    apps_added: list[str]
    apps_removed: list[str]
    apps_changed: list[str]
    registry_changed: list[str]

    @property
    def empty(self) -> bool:
        return not any(
            (self.os_build, self.hotfixes_added, self.hotfixes_removed, self.apps_added, self.apps_removed)
        ) and not (self.apps_changed or self.registry_changed)


def diff(older: ImageVersion, newer: ImageVersion) -> ManifestDiff:
    """What changed between two versions, from their recorded manifests."""
    a, b = older.manifest, newer.manifest
    apps_a = {x.name: x.version for x in a.apps}
    apps_b = {x.name: x.version for x in b.apps}
    return ManifestDiff(
        workload=newer.workload,
        older=str(older.version),
        newer=str(newer.version),
        os_build=(a.os_build, b.os_build) if a.os_build != b.os_build else None,
        hotfixes_added=sorted(set(b.hotfixes) - set(a.hotfixes)),
        hotfixes_removed=sorted(set(a.hotfixes) - set(b.hotfixes)),
        apps_added=[f"{n} {apps_b[n]}" for n in sorted(apps_b.keys() - apps_a.keys())],
        apps_removed=[f"{n} {apps_a[n]}" for n in sorted(apps_a.keys() - apps_b.keys())],
        apps_changed=[
            f"{n} {apps_a[n]} -> {apps_b[n]}" for n in sorted(apps_a.keys() & apps_b.keys()) if apps_a[n] != apps_b[n]
        ],
        registry_changed=[
            f"{k}: {a.registry.get(k, '(absent)')} -> {b.registry.get(k, '(absent)')}"
            for k in sorted(a.registry.keys() | b.registry.keys())
            if a.registry.get(k) != b.registry.get(k)
        ],
    )
