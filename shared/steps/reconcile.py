"""Reconcile, like a controller: the records are the desired state, the gallery is the actual state.

Events and steps are the fast path; this pass is the guarantee. Per workload it compares the
records with the image definition's versions in Azure and converges them:

- exactly the production version is visible to "latest" in every region it is replicated to
  (the version's excludeFromLatest and each target region's own); every other version is excluded;
- every stage pointer references a version that exists and is replicated where the stage needs it
  (DR after a rollback included);
- versions deleted outside the product are recorded as such, and the pointers that referenced them
  repaired (test, validation, rollback target) or, where no safe repair exists (production, DR), the
  workload is flagged;
- versions in our definition that no record owns are reported (and kept out of "latest").

Safe repairs are applied and recorded in the audit trail in one transaction; the result (repairs,
flags) is kept in the workload's health row, which the governance report and status page show.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from shared.domain import lifecycle
from shared.domain.catalog import Workload
from shared.domain.commands import Envelope, Reconcile
from shared.domain.compute import GalleryVersionState, OperationState
from shared.domain.health import WorkloadHealth
from shared.domain.model import ImageVersion, Pointers, Stage, Status, VersionNumber
from shared.domain.records import AuditEntry, Changes
from shared.steps import replication
from shared.steps.deps import Deps
from shared.steps.outcome import start_once

ACTOR = "reconcile"
# Statuses whose gallery version must exist (the product has not deleted it, nor failed it).
MUST_EXIST = frozenset({Status.READY, Status.SUPERSEDED, Status.WITHDRAWN, Status.DEPRECATED, Status.REPLICATING})
REPAIRABLE = (Stage.TEST, Stage.VALIDATION)


@dataclass
class _Pass:
    workload: Workload
    now: datetime
    versions: dict[VersionNumber, ImageVersion]
    pointers: Pointers
    changed: dict[VersionNumber, ImageVersion] = field(default_factory=dict)
    audit: list[AuditEntry] = field(default_factory=list)
    repairs: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    waiting: bool = False  # a repair under way (replication) that a later pass completes

    def note(
        self,
        detail: str,
        version: VersionNumber | None = None,
        from_status: Status | None = None,
        to_status: Status | None = None,
    ) -> None:
        """A safe repair: reported, and written to the audit trail with the pass's commit."""
        self.repairs.append(detail)
        self.audit.append(
            AuditEntry(
                at=self.now,
                kind="reconciled",
                actor=ACTOR,
                detail=detail,
                version=version,
                from_status=from_status,
                to_status=to_status,
            )
        )


REQUEUE_AFTER = timedelta(minutes=4, seconds=30)  # not tuned to one replication: looks again, up to the limit
REQUEUE_LIMIT = 40  # about three hours of looks before the workload is flagged


def reconcile(command: Reconcile, deps: Deps) -> list[Envelope]:
    """One pass for one workload; idempotent (a second pass finds nothing to repair).

    A pass that started a repair which takes time (replication) looks again later by itself,
    like a controller's requeue, a bounded number of times; the hourly pass is the backstop.
    """
    health, waiting, stored = _check(command.workload, deps, repair=True)
    if not health.same_findings(stored):  # one write only when the findings change
        deps.records.put_health(health.model_copy(update={"repairs": ()}))
    requeued = int(command.after.removeprefix("requeue-")) if command.after.startswith("requeue-") else 0
    if not waiting or requeued >= REQUEUE_LIMIT:
        return []
    again = Reconcile(workload=command.workload, requested_at=deps.clock.now(), after=f"requeue-{requeued + 1}")
    return [Envelope.wrap(again, scheduled_for=deps.clock.now() + REQUEUE_AFTER)]


def check(workload_name: str, deps: Deps, *, repair: bool) -> tuple[WorkloadHealth, bool]:
    """Compare and (when `repair`) converge; returns what was found and done, and whether a repair
    is still under way (a replication it started)."""
    health, waiting, _ = _check(workload_name, deps, repair=repair)
    return health, waiting


def _check(workload_name: str, deps: Deps, *, repair: bool) -> tuple[WorkloadHealth, bool, WorkloadHealth | None]:
    workload = deps.workload(workload_name)
    everything = deps.records.load_workload(workload.name)
    gallery = {
        state.name: state
        for state in deps.compute.list_gallery_versions(workload.gallery.name, workload.gallery.definition)
    }
    work = _Pass(
        workload=workload,
        now=deps.clock.now(),
        versions={v.version: v for v in everything.versions},
        pointers=everything.pointers,
    )
    _vanished(work, gallery)
    _pointers(work, gallery, deps, repair)
    _latest(work, gallery, deps, repair)
    owned = {str(n) for n in work.versions}
    unknown = tuple(sorted(name for name in gallery if name not in owned))
    if repair and (work.changed or work.audit):
        pointers_changed = work.pointers is not everything.pointers
        needs_pointers = pointers_changed or any(a.version is None for a in work.audit)
        for entry in work.audit:  # every version with an audit entry is written with it
            if entry.version is not None and entry.version not in work.changed:
                work.changed[entry.version] = work.versions[entry.version]
        deps.records.commit(
            Changes(
                workload=workload.name,
                versions=list(work.changed.values()),
                pointers=work.pointers if needs_pointers else None,
                audit=work.audit,
            )
        )
    health = WorkloadHealth(
        workload=workload.name,
        checked_at=work.now,
        repairs=tuple(work.repairs),
        flags=tuple(work.flags),
        unknown_versions=unknown,
    )
    return health, work.waiting, everything.health


def _vanished(work: _Pass, gallery: dict[str, GalleryVersionState]) -> None:
    """Records whose gallery version is gone although the product never deleted it."""
    for number, version in sorted(work.versions.items()):
        if version.status not in MUST_EXIST or not version.gallery_version_id or str(number) in gallery:
            continue
        gone = lifecycle.vanished(version, "found missing by reconcile")
        work.versions[number] = work.changed[number] = gone
        work.note(
            f"gallery version {number} was {lifecycle.GONE_OUTSIDE}; recorded as deleted",
            number,
            from_status=version.status,
            to_status=Status.DELETED,
        )


def _usable(work: _Pass, number: VersionNumber | None, gallery: dict[str, GalleryVersionState]) -> bool:
    version = work.versions.get(number) if number is not None else None
    return version is not None and version.status is not Status.DELETED and str(number) in gallery


def _pointers(work: _Pass, gallery: dict[str, GalleryVersionState], deps: Deps, repair: bool) -> None:
    """Every stage pointer must reference a version that exists, replicated where the stage needs it."""
    pointers = work.pointers
    moves: dict[str, VersionNumber | None] = {}
    for stage in REPAIRABLE:
        number = pointers.serving(stage)
        if number is not None and not _usable(work, number, gallery):
            moves[stage.value] = None
            work.note(f"{stage.value} pointed at {number}, which no longer exists; cleared")
    if pointers.rollback is not None and not _usable(work, pointers.rollback, gallery):
        older = [
            n
            for n, v in work.versions.items()
            if v.status is Status.SUPERSEDED and _usable(work, n, gallery) and n != pointers.production
        ]
        moves["rollback"] = max(older) if older else None
        work.note(f"rollback target {pointers.rollback} no longer exists; now {moves['rollback'] or 'none'}")
    production = pointers.production
    if production is not None and not _usable(work, production, gallery):
        work.flags.append(
            f"production version {production} was {lifecycle.GONE_OUTSIDE}: nothing is visible to 'latest'; "
            "promote a version to production"
        )
    elif production is not None:
        _replicated_for(work, production, Stage.PRODUCTION, gallery, deps, repair)
    _dr(work, gallery, deps, repair, moves)
    if moves:
        work.pointers = pointers.evolve(**moves)


def _dr(
    work: _Pass,
    gallery: dict[str, GalleryVersionState],
    deps: Deps,
    repair: bool,
    moves: dict[str, VersionNumber | None],
) -> None:
    """DR serves what production serves once a version is withdrawn or gone (a rollback moved production)."""
    pointers, workload = work.pointers, work.workload
    policy = workload.stages.policy(Stage.DR)
    dr = pointers.dr
    if dr is None or policy is None:
        return
    current = work.versions.get(dr)
    if _usable(work, dr, gallery) and current is not None and current.status is not Status.WITHDRAWN:
        _replicated_for(work, dr, Stage.DR, gallery, deps, repair)
        return
    production = pointers.production
    why = "was withdrawn" if current is not None and current.status is Status.WITHDRAWN else "no longer exists"
    if production is None or not _usable(work, production, gallery):
        work.flags.append(f"DR serves {dr}, which {why}, and production has no deployable version")
        return
    state = gallery[str(production)]
    missing = _missing_regions(state, policy.regions)
    if not missing and state.provisioning is OperationState.SUCCEEDED:
        moves["dr"] = production
        work.note(f"DR served {dr}, which {why}; DR now serves production's {production}")
        return
    work.flags.append(
        f"DR serves {dr}, which {why}; replicating production's {production} to {', '.join(missing) or 'DR'}"
    )
    work.waiting = True
    if repair and missing:
        _widen(deps, work, production, Stage.DR)


def _missing_regions(state: GalleryVersionState, regions: tuple[str, ...]) -> list[str]:
    have = {r.lower().replace(" ", "") for r in state.target_regions}
    return [r for r in regions if r.lower() not in have]


def _replicated_for(
    work: _Pass, number: VersionNumber, stage: Stage, gallery: dict[str, GalleryVersionState], deps: Deps, repair: bool
) -> None:
    policy = work.workload.stages.policy(stage)
    state = gallery[str(number)]
    if policy is None or state.provisioning is OperationState.IN_PROGRESS:
        return  # an update under way: the next pass looks again
    missing = _missing_regions(state, policy.regions)
    if not missing:
        return
    if repair:
        _widen(deps, work, number, stage)
    work.waiting = True
    work.note(f"{stage.value} version {number} was not replicated to {', '.join(missing)}; replicating", number)


def _widen(deps: Deps, work: _Pass, number: VersionNumber, stage: Stage) -> None:
    gallery = work.workload.gallery
    wanted = replication.target_regions(work.workload, stage)
    start_once(
        deps.compute.update_gallery_version, gallery.name, gallery.definition, str(number), target_regions=wanted
    )


def _latest(work: _Pass, gallery: dict[str, GalleryVersionState], deps: Deps, repair: bool) -> None:
    """Exactly the production version is visible to 'latest', in every region it is replicated to.

    Azure has the flag twice: publishingProfile.excludeFromLatest for the version and
    targetRegions[].excludeFromLatest per region; either hides the version in a region.
    """
    production = work.pointers.production
    for name, state in sorted(gallery.items()):
        visible = production is not None and name == str(production)
        wrong = _wrong_regions(state, visible)
        if not wrong:
            continue  # as it should be
        if state.provisioning is OperationState.IN_PROGRESS:
            work.waiting = True  # being created or updated: look again once that is done
            continue
        if repair:
            _set_latest(deps, work, name, state, visible)
        where = ", ".join(wrong)
        what = (
            f"made visible to latest in {where} (it serves production)"
            if visible
            else f"excluded from latest (it was visible in {where})"
        )
        number = VersionNumber.parse(name)
        owner = number if number in work.versions else None
        work.note(f"{name} {what}", owner)


def _wrong_regions(state: GalleryVersionState, visible: bool) -> tuple[str, ...]:
    """The regions where 'latest' disagrees with `visible` (every region when Azure lists none)."""
    if not state.targets:
        return ("every region",) if state.exclude_from_latest == visible else ()
    return state.hidden_regions() if visible else state.latest_regions()


def _set_latest(deps: Deps, work: _Pass, name: str, state: GalleryVersionState, visible: bool) -> None:
    """Hide: the version's flag is enough. Show: the version's flag and every region's own flag
    cleared, sending Azure's own target list back (counts and storage types unchanged)."""
    definition = work.workload.gallery
    args = (definition.name, definition.definition, name)
    if visible and any(t.exclude_from_latest for t in state.targets):
        shown = tuple(replace(t, exclude_from_latest=False) for t in state.targets)
        start_once(deps.compute.update_gallery_version, *args, exclude_from_latest=False, target_regions=shown)
    else:
        start_once(deps.compute.update_gallery_version, *args, exclude_from_latest=not visible)
