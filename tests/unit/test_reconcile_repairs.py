"""After reconcile the records and the gallery agree, or the workload is flagged (invariant 15, docs/invariants.md).

Each test sets up office's records and what its gallery image definition holds, runs one pass of
shared.steps.reconcile, and pins the repair (audit words, pointer moves, gallery updates) or the flag.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from shared.domain.catalog import load_catalog
from shared.domain.commands import Reconcile
from shared.domain.compute import GalleryVersionState, OperationState, TargetRegion
from shared.domain.health import WorkloadHealth
from shared.domain.model import ImageVersion, Stage, Status, VersionNumber
from shared.domain.records import Changes
from shared.steps import reconcile as rc
from shared.steps.deps import Deps
from tests.conftest import make_version
from tests.unit.fakes import FakeClock, FakeCompute, make_deps

CATALOG = load_catalog(Path(__file__).resolve().parents[2] / "catalog")
NOW = FakeClock().current
V = VersionNumber.parse
PRODUCTION_REGIONS = (
    TargetRegion("westeurope", 2, "Standard_ZRS"),
    TargetRegion("northeurope", 2, "Standard_ZRS"),
)


@dataclass
class GalleryCompute(FakeCompute):
    """FakeCompute whose image definition lists `versions`."""

    def list_gallery_versions(self, gallery: str, definition: str) -> list[GalleryVersionState]:
        assert (gallery, definition) == ("gal_avd_images", "win11-24h2-office")
        return list(self.versions.values())


def in_gallery(
    name: str,
    regions: tuple[str, ...] = ("westeurope",),
    *,
    hidden: bool = True,
    targets: tuple[TargetRegion, ...] = (),
    provisioning: OperationState = OperationState.SUCCEEDED,
) -> GalleryVersionState:
    return GalleryVersionState(
        id=f"/galleries/gal_avd_images/images/win11-24h2-office/versions/{name}",
        name=name,
        provisioning=provisioning,
        aggregated="Completed",
        regions=(),
        target_regions=regions,
        exclude_from_latest=hidden,
        end_of_life=None,
        targets=targets,
    )


def recorded(text: str, status: Status, stage: Stage | None = None) -> ImageVersion:
    return make_version(text, status=status, stage=stage, gallery_version_id=f"/v/{text}")


def world(
    versions: list[ImageVersion], gallery: list[GalleryVersionState], **pointers: VersionNumber | None
) -> tuple[Deps, GalleryCompute]:
    compute = GalleryCompute(versions={g.name: g for g in gallery})
    deps = make_deps(CATALOG, compute=compute)
    current = deps.records.get_pointers("office").evolve(**pointers)
    deps.records.commit(Changes(workload="office", versions=versions, pointers=current))
    return deps, compute


def one_pass(deps: Deps, after: str = "timer") -> list[object]:
    return list(rc.reconcile(Reconcile(workload="office", requested_at=NOW, after=after), deps))


def audit(deps: Deps) -> list[tuple[str, str, str, str | None]]:
    return [
        (e.kind, e.actor, e.detail, str(e.version) if e.version else None) for e in deps.records.list_events("office")
    ]


def updates(compute: FakeCompute) -> list[tuple[str, dict[str, object]]]:
    return [args for name, args in compute.calls if name == "update_gallery_version"]


def test_a_version_deleted_by_hand_is_recorded_as_deleted() -> None:
    """A ready version missing from the gallery moves to DELETED, with a 'reconciled' audit entry."""
    deps, _ = world([recorded("1.0.0", Status.READY, Stage.TEST)], [])
    one_pass(deps)
    assert deps.records.get_version("office", V("1.0.0")).status is Status.DELETED
    assert audit(deps)[0] == (
        "reconciled",
        "reconcile",
        "gallery version 1.0.0 was deleted outside the product; recorded as deleted",
        "1.0.0",
    )
    [event] = [e for e in deps.records.list_events("office") if e.version is not None]
    assert (event.from_status, event.to_status, event.at) == (Status.READY, Status.DELETED, NOW)


def test_versions_the_product_deleted_failed_or_never_captured_are_not_reported() -> None:
    """FAILED, DELETED and versions without a gallery id are not expected in the gallery."""
    never_captured = make_version("1.0.2", status=Status.BUILDING)
    deps, _ = world([recorded("1.0.0", Status.FAILED), recorded("1.0.1", Status.DELETED), never_captured], [])
    one_pass(deps)
    assert audit(deps) == []


def test_a_test_pointer_at_a_vanished_version_is_cleared() -> None:
    """test and validation have no safe replacement: the pointer is cleared and the repair recorded."""
    deps, _ = world([recorded("1.0.0", Status.READY, Stage.VALIDATION)], [], test=V("1.0.0"), validation=V("1.0.0"))
    one_pass(deps)
    pointers = deps.records.get_pointers("office")
    assert (pointers.test, pointers.validation) == (None, None)
    details = [a[2] for a in audit(deps)]
    assert "test pointed at 1.0.0, which no longer exists; cleared" in details
    assert "validation pointed at 1.0.0, which no longer exists; cleared" in details


def test_a_vanished_rollback_target_moves_to_the_newest_older_superseded_version() -> None:
    """Rollback target 1.0.2 gone: 1.0.1 (the newest usable superseded, not production) becomes the target."""
    versions = [
        recorded("1.0.0", Status.SUPERSEDED, Stage.PRODUCTION),
        recorded("1.0.1", Status.SUPERSEDED, Stage.PRODUCTION),
        recorded("1.0.2", Status.SUPERSEDED, Stage.PRODUCTION),
        recorded("1.0.3", Status.READY, Stage.PRODUCTION),
    ]
    gallery = [in_gallery(n, ("westeurope", "northeurope")) for n in ("1.0.0", "1.0.1")]
    gallery.append(in_gallery("1.0.3", ("westeurope", "northeurope"), hidden=False))
    deps, _ = world(versions, gallery, production=V("1.0.3"), rollback=V("1.0.2"))
    one_pass(deps)
    assert deps.records.get_pointers("office").rollback == V("1.0.1")
    assert ("reconciled", "reconcile", "rollback target 1.0.2 no longer exists; now 1.0.1", None) in audit(deps)


def test_a_vanished_rollback_target_with_nothing_older_leaves_no_target() -> None:
    """No other usable superseded version: the rollback target is cleared, and the words say 'none'."""
    versions = [
        recorded("1.0.2", Status.SUPERSEDED, Stage.PRODUCTION),
        recorded("1.0.3", Status.READY, Stage.PRODUCTION),
    ]
    gallery = [in_gallery("1.0.3", ("westeurope", "northeurope"), hidden=False)]
    deps, _ = world(versions, gallery, production=V("1.0.3"), rollback=V("1.0.2"))
    one_pass(deps)
    assert deps.records.get_pointers("office").rollback is None
    assert ("reconciled", "reconcile", "rollback target 1.0.2 no longer exists; now none", None) in audit(deps)


def test_a_vanished_production_version_flags_the_workload() -> None:
    """No safe repair for production: the workload is flagged with what to do, the pointer stays."""
    deps, _ = world([recorded("1.0.0", Status.READY, Stage.PRODUCTION)], [], production=V("1.0.0"))
    one_pass(deps)
    health = deps.records.get_health("office")
    assert health is not None
    assert health.flags == (
        "production version 1.0.0 was deleted outside the product: nothing is visible to 'latest'; "
        "promote a version to production",
    )
    assert deps.records.get_pointers("office").production == V("1.0.0")


def test_production_missing_a_region_is_replicated_there_and_looked_at_again() -> None:
    """Production in westeurope only: widened to every production region, and a requeued pass follows."""
    production = in_gallery("1.0.0", ("West Europe",), hidden=False)
    deps, compute = world([recorded("1.0.0", Status.READY, Stage.PRODUCTION)], [production], production=V("1.0.0"))
    again = one_pass(deps)
    assert updates(compute) == [("1.0.0", {"target_regions": PRODUCTION_REGIONS})]
    assert (
        "reconciled",
        "reconcile",
        "production version 1.0.0 was not replicated to northeurope; replicating",
        "1.0.0",
    ) in audit(deps)
    [message] = again
    assert message.scheduled_for == NOW + timedelta(minutes=4, seconds=30)  # type: ignore[attr-defined]
    assert message.message_id == f"office:reconcile:requeue-1:{NOW.isoformat()}"  # type: ignore[attr-defined]


def test_requeued_passes_stop_at_the_limit() -> None:
    """After REQUEUE_LIMIT (40) looks the pass no longer requeues itself; the hourly pass is the backstop."""
    production = in_gallery("1.0.0", ("westeurope",), hidden=False)
    deps, _ = world([recorded("1.0.0", Status.READY, Stage.PRODUCTION)], [production], production=V("1.0.0"))
    assert len(one_pass(deps, after="requeue-39")) == 1
    assert one_pass(deps, after="requeue-40") == []


def test_a_check_without_repair_reports_but_changes_nothing() -> None:
    """check(repair=False) finds the missing region and the wrong 'latest' but writes and updates nothing."""
    production = in_gallery("1.0.0", ("westeurope",), hidden=True)
    deps, compute = world([recorded("1.0.0", Status.READY, Stage.PRODUCTION)], [production], production=V("1.0.0"))
    health, waiting = rc.check("office", deps, repair=False)
    assert waiting
    assert health.repairs == (
        "production version 1.0.0 was not replicated to northeurope; replicating",
        "1.0.0 made visible to latest in every region (it serves production)",
    )
    assert (updates(compute), audit(deps)) == ([], [])


def test_an_update_under_way_is_left_for_the_next_pass() -> None:
    """A production version still provisioning is neither widened nor flipped; the pass waits."""
    busy = in_gallery("1.0.0", ("westeurope",), hidden=True, provisioning=OperationState.IN_PROGRESS)
    deps, compute = world([recorded("1.0.0", Status.READY, Stage.PRODUCTION)], [busy], production=V("1.0.0"))
    health, waiting = rc.check("office", deps, repair=True)
    assert (health.repairs, updates(compute), waiting) == ((), [], True)


def test_the_production_version_is_made_visible_to_latest() -> None:
    """Production hidden (version flag, no per-region list): the flag is cleared."""
    hidden = in_gallery("1.0.0", ("westeurope", "northeurope"), hidden=True)
    deps, compute = world([recorded("1.0.0", Status.READY, Stage.PRODUCTION)], [hidden], production=V("1.0.0"))
    one_pass(deps)
    assert updates(compute) == [("1.0.0", {"exclude_from_latest": False})]
    assert (
        "reconciled",
        "reconcile",
        "1.0.0 made visible to latest in every region (it serves production)",
        "1.0.0",
    ) in audit(deps)


def test_a_region_flag_hiding_production_is_cleared_with_azures_own_list() -> None:
    """northeurope's own excludeFromLatest hides production there: every region's flag is cleared, counts kept."""
    targets = (
        TargetRegion("westeurope", 3, "Standard_ZRS", exclude_from_latest=False),
        TargetRegion("northeurope", 1, "Standard_LRS", exclude_from_latest=True),
    )
    shown = tuple(TargetRegion(t.name, t.replica_count, t.storage_account_type, False) for t in targets)
    state = in_gallery("1.0.0", ("westeurope", "northeurope"), hidden=False, targets=targets)
    deps, compute = world([recorded("1.0.0", Status.READY, Stage.PRODUCTION)], [state], production=V("1.0.0"))
    one_pass(deps)
    assert updates(compute) == [("1.0.0", {"exclude_from_latest": False, "target_regions": shown})]
    assert any(a[2] == "1.0.0 made visible to latest in northeurope (it serves production)" for a in audit(deps))


def test_a_version_not_serving_production_is_hidden_from_latest() -> None:
    """A test version visible to latest is excluded (the version flag is enough)."""
    visible = in_gallery("1.0.1", hidden=False)
    deps, compute = world([recorded("1.0.1", Status.READY, Stage.TEST)], [visible], test=V("1.0.1"))
    one_pass(deps)
    assert updates(compute) == [("1.0.1", {"exclude_from_latest": True})]
    assert (
        "reconciled",
        "reconcile",
        "1.0.1 excluded from latest (it was visible in every region)",
        "1.0.1",
    ) in audit(deps)


def test_a_version_visible_in_one_region_is_hidden_and_that_region_named() -> None:
    """Per-region visibility: the words name the region where latest could resolve to it."""
    targets = (
        TargetRegion("westeurope", 1, "Standard_LRS", exclude_from_latest=True),
        TargetRegion("northeurope", 1, "Standard_LRS", exclude_from_latest=False),
    )
    state = in_gallery("1.0.1", ("westeurope", "northeurope"), hidden=False, targets=targets)
    deps, compute = world([recorded("1.0.1", Status.READY, Stage.TEST)], [state], test=V("1.0.1"))
    one_pass(deps)
    assert updates(compute) == [("1.0.1", {"exclude_from_latest": True})]
    assert any(a[2] == "1.0.1 excluded from latest (it was visible in northeurope)" for a in audit(deps))


def test_a_version_no_record_owns_is_reported_and_hidden() -> None:
    """An unknown gallery version is listed in the health row and kept out of latest (audit without a version)."""
    stray = in_gallery("9.9.9", hidden=False)
    deps, compute = world([], [stray])
    one_pass(deps)
    health = deps.records.get_health("office")
    assert health is not None
    assert health.unknown_versions == ("9.9.9",)
    assert updates(compute) == [("9.9.9", {"exclude_from_latest": True})]
    assert audit(deps) == [
        ("reconciled", "reconcile", "9.9.9 excluded from latest (it was visible in every region)", None)
    ]


def test_a_second_pass_finds_nothing_to_repair() -> None:
    """Idempotent: once converged (as the fake gallery stays) nothing is updated or written again."""
    good = in_gallery("1.0.0", ("westeurope", "northeurope"), hidden=False)
    deps, compute = world([recorded("1.0.0", Status.READY, Stage.PRODUCTION)], [good], production=V("1.0.0"))
    assert one_pass(deps) == []
    assert (updates(compute), audit(deps)) == ([], [])


def test_health_is_written_only_when_the_findings_change() -> None:
    """A pass finding the same flags does not rewrite the health row (its time stays the first finding's)."""
    deps, _ = world([recorded("1.0.0", Status.READY, Stage.PRODUCTION)], [], production=V("1.0.0"))
    one_pass(deps)
    first = deps.records.get_health("office")
    deps.clock.advance(timedelta(hours=1))  # type: ignore[attr-defined]
    one_pass(deps)
    assert deps.records.get_health("office") == first
    assert first is not None
    assert first.repairs == ()  # stored empty: the repairs are in the audit trail


def test_dr_on_a_withdrawn_version_moves_to_production_when_production_is_in_the_dr_region() -> None:
    """After a rollback DR served the withdrawn 1.0.1; production's 1.0.0 is replicated to swedencentral: DR moves."""
    versions = [recorded("1.0.0", Status.READY, Stage.PRODUCTION), recorded("1.0.1", Status.WITHDRAWN, Stage.DR)]
    gallery = [
        in_gallery("1.0.0", ("westeurope", "northeurope", "Sweden Central"), hidden=False),
        in_gallery("1.0.1", ("swedencentral",)),
    ]
    deps, _ = world(versions, gallery, production=V("1.0.0"), dr=V("1.0.1"))
    one_pass(deps)
    assert deps.records.get_pointers("office").dr == V("1.0.0")
    assert (
        "reconciled",
        "reconcile",
        "DR served 1.0.1, which was withdrawn; DR now serves production's 1.0.0",
        None,
    ) in audit(deps)


def test_dr_waits_and_widens_production_when_it_lacks_the_dr_region() -> None:
    """Production not yet in swedencentral: flagged, widened to the DR regions, looked at again."""
    versions = [recorded("1.0.0", Status.READY, Stage.PRODUCTION), recorded("1.0.1", Status.READY, Stage.DR)]
    gallery = [in_gallery("1.0.0", ("westeurope", "northeurope"), hidden=False)]
    deps, compute = world(versions, gallery, production=V("1.0.0"), dr=V("1.0.1"))
    again = one_pass(deps)
    health = deps.records.get_health("office")
    assert health is not None
    assert health.flags == ("DR serves 1.0.1, which no longer exists; replicating production's 1.0.0 to swedencentral",)
    [(version, changes)] = updates(compute)
    assert version == "1.0.0"
    assert [t.name for t in changes["target_regions"]] == ["westeurope", "northeurope", "swedencentral"]  # type: ignore[attr-defined]
    assert len(again) == 1
    assert deps.records.get_pointers("office").dr == V("1.0.1")


def test_dr_with_no_deployable_production_is_flagged() -> None:
    """DR's version gone and no production version: nothing safe to serve, the workload is flagged."""
    deps, _ = world([recorded("1.0.1", Status.READY, Stage.DR)], [], dr=V("1.0.1"))
    one_pass(deps)
    health = deps.records.get_health("office")
    assert health is not None
    assert "DR serves 1.0.1, which no longer exists, and production has no deployable version" in health.flags


def test_a_usable_dr_version_is_replicated_where_dr_needs_it() -> None:
    """DR's own version missing swedencentral is widened to the DR stage's regions."""
    versions = [recorded("1.0.1", Status.READY, Stage.DR)]
    gallery = [in_gallery("1.0.1", ("westeurope",))]
    deps, compute = world(versions, gallery, dr=V("1.0.1"))
    one_pass(deps)
    assert [v for v, _ in updates(compute)] == ["1.0.1"]
    assert any(a[2] == "dr version 1.0.1 was not replicated to swedencentral; replicating" for a in audit(deps))


def test_health_row_records_the_pass_time_and_nothing_else_when_healthy() -> None:
    """A healthy workload's first pass stores a clean health row stamped with the pass time."""
    good = in_gallery("1.0.0", ("westeurope", "northeurope"), hidden=False)
    deps, _ = world([recorded("1.0.0", Status.READY, Stage.PRODUCTION)], [good], production=V("1.0.0"))
    health, waiting = rc.check("office", deps, repair=True)
    assert health == WorkloadHealth(workload="office", checked_at=NOW)
    assert not waiting


class DefinitionCompute(GalleryCompute):
    """Also records the gallery and definition every update names."""

    def update_gallery_version(self, gallery: str, definition: str, version: str, **changes: object) -> None:
        self.calls.append(("update_in", (gallery, definition, version)))


def test_a_check_with_repair_widens_production_in_the_workloads_definition() -> None:
    """check(repair=True) repairs like a pass: the update names gal_avd_images/win11-24h2-office."""
    compute = DefinitionCompute(versions={"1.0.0": in_gallery("1.0.0", ("westeurope",), hidden=False)})
    deps = make_deps(CATALOG, compute=compute)
    pointers = deps.records.get_pointers("office").evolve(production=V("1.0.0"))
    deps.records.commit(
        Changes(workload="office", versions=[recorded("1.0.0", Status.READY, Stage.PRODUCTION)], pointers=pointers)
    )
    _, waiting = rc.check("office", deps, repair=True)
    assert waiting
    assert compute.calls == [("update_in", ("gal_avd_images", "win11-24h2-office", "1.0.0"))]


def test_a_pointer_at_a_version_recorded_deleted_is_cleared_even_if_azure_still_lists_it() -> None:
    """A DELETED record is not servable, whatever the gallery still shows (its delete may be under way)."""
    deps, _ = world([recorded("1.0.0", Status.DELETED)], [in_gallery("1.0.0")], test=V("1.0.0"))
    one_pass(deps)
    assert deps.records.get_pointers("office").test is None


def test_every_missing_region_is_named() -> None:
    """Production replicated to neither of its regions: both are named in the repair."""
    elsewhere = in_gallery("1.0.0", ("francecentral",), hidden=False)
    deps, _ = world([recorded("1.0.0", Status.READY, Stage.PRODUCTION)], [elsewhere], production=V("1.0.0"))
    one_pass(deps)
    details = [a[2] for a in audit(deps)]
    assert "production version 1.0.0 was not replicated to westeurope, northeurope; replicating" in details


def test_every_vanished_version_is_recorded_with_how_it_was_found() -> None:
    """A skipped FAILED 1.0.0 does not stop the pass: 1.0.1, gone, is recorded with the reason."""
    deps, _ = world([recorded("1.0.0", Status.FAILED), recorded("1.0.1", Status.READY, Stage.TEST)], [])
    one_pass(deps)
    gone = deps.records.get_version("office", V("1.0.1"))
    assert (gone.status, gone.failure_reason) == (
        Status.DELETED,
        "deleted outside the product (found missing by reconcile)",
    )


def test_pointers_at_usable_versions_are_left_alone() -> None:
    """test and the rollback target exist in records and gallery: nothing moves, nothing is noted."""
    versions = [recorded("1.0.0", Status.SUPERSEDED, Stage.PRODUCTION), recorded("1.0.1", Status.READY, Stage.PRODUCTION),
                recorded("1.0.2", Status.READY, Stage.TEST)]  # fmt: skip
    gallery = [in_gallery("1.0.0", ("westeurope", "northeurope")), in_gallery("1.0.1", ("westeurope", "northeurope"), hidden=False),
               in_gallery("1.0.2")]  # fmt: skip
    deps, _ = world(versions, gallery, test=V("1.0.2"), production=V("1.0.1"), rollback=V("1.0.0"))
    before = deps.records.get_pointers("office")
    one_pass(deps)
    after = deps.records.get_pointers("office")
    assert (after.test, after.rollback, audit(deps)) == (V("1.0.2"), V("1.0.0"), [])
    assert after.etag == before.etag  # nothing to change: the pointers row is not rewritten


def test_only_a_superseded_version_becomes_the_new_rollback_target() -> None:
    """1.0.3 (READY, in test) is newer but not a former production version: 1.0.1 is chosen."""
    versions = [recorded("1.0.1", Status.SUPERSEDED, Stage.PRODUCTION), recorded("1.0.2", Status.SUPERSEDED, Stage.PRODUCTION),
                recorded("1.0.3", Status.READY, Stage.TEST), recorded("1.0.4", Status.READY, Stage.PRODUCTION)]  # fmt: skip
    gallery = [in_gallery("1.0.1", ("westeurope", "northeurope")), in_gallery("1.0.3"),
               in_gallery("1.0.4", ("westeurope", "northeurope"), hidden=False)]  # fmt: skip
    deps, _ = world(versions, gallery, test=V("1.0.3"), production=V("1.0.4"), rollback=V("1.0.2"))
    one_pass(deps)
    assert deps.records.get_pointers("office").rollback == V("1.0.1")


def test_hiding_a_version_does_not_rewrite_the_pointers() -> None:
    """A pass whose only repair is a version's visibility commits the version, not the pointers row."""
    deps, _ = world([recorded("1.0.1", Status.READY, Stage.TEST)], [in_gallery("1.0.1", hidden=False)], test=V("1.0.1"))
    before = deps.records.get_pointers("office").etag
    one_pass(deps)
    assert deps.records.get_pointers("office").etag == before
    assert len(audit(deps)) == 1


def test_dr_on_a_withdrawn_version_with_production_gone_is_flagged() -> None:
    """DR served the withdrawn 1.0.1 and production's 1.0.0 is gone too: nothing deployable, flagged."""
    versions = [recorded("1.0.0", Status.READY, Stage.PRODUCTION), recorded("1.0.1", Status.WITHDRAWN, Stage.DR)]
    deps, _ = world(versions, [in_gallery("1.0.1", ("swedencentral",))], production=V("1.0.0"), dr=V("1.0.1"))
    one_pass(deps)
    health = deps.records.get_health("office")
    assert health is not None
    assert "DR serves 1.0.1, which was withdrawn, and production has no deployable version" in health.flags


def test_dr_waits_while_production_is_still_being_updated_there() -> None:
    """Production already lists swedencentral but is still provisioning: DR waits, flagged as replicating to DR."""
    versions = [recorded("1.0.0", Status.READY, Stage.PRODUCTION), recorded("1.0.1", Status.WITHDRAWN, Stage.DR)]
    busy = in_gallery("1.0.0", ("westeurope", "northeurope", "swedencentral"), hidden=False,
                      provisioning=OperationState.IN_PROGRESS)  # fmt: skip
    deps, compute = world(
        versions, [busy, in_gallery("1.0.1", ("swedencentral",))], production=V("1.0.0"), dr=V("1.0.1")
    )
    one_pass(deps)
    health = deps.records.get_health("office")
    assert health is not None
    assert health.flags == ("DR serves 1.0.1, which was withdrawn; replicating production's 1.0.0 to DR",)
    assert updates(compute) == []


def test_every_wrong_version_is_fixed_after_a_right_or_busy_one() -> None:
    """1.0.0 hidden (right), 1.0.1 still provisioning, 1.0.2 visible (wrong): the pass goes on and hides 1.0.2."""
    versions = [recorded(v, Status.READY, Stage.TEST) for v in ("1.0.0", "1.0.1", "1.0.2")]
    busy = in_gallery("1.0.1", hidden=False, provisioning=OperationState.IN_PROGRESS)
    deps, compute = world(versions, [in_gallery("1.0.0"), busy, in_gallery("1.0.2", hidden=False)], test=V("1.0.2"))
    one_pass(deps)
    assert updates(compute) == [("1.0.2", {"exclude_from_latest": True})]


def test_a_version_visible_in_several_regions_names_them_all() -> None:
    """Visible in westeurope and northeurope: both named in the repair."""
    targets = (
        TargetRegion("westeurope", 1, "Standard_LRS", exclude_from_latest=False),
        TargetRegion("northeurope", 1, "Standard_LRS", exclude_from_latest=False),
    )
    state = in_gallery("1.0.1", ("westeurope", "northeurope"), hidden=False, targets=targets)
    deps, _ = world([recorded("1.0.1", Status.READY, Stage.TEST)], [state], test=V("1.0.1"))
    one_pass(deps)
    assert any(a[2] == "1.0.1 excluded from latest (it was visible in westeurope, northeurope)" for a in audit(deps))
