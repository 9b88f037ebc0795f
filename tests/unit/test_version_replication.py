"""A promotion's replication, followed by continue_version until the version serves its stage.

Pins what completion writes (pointer moves, the previous production version superseded and made
the rollback target, only production made visible to "latest"), the failure and retry paths, and
that stale or throttled messages never run the step twice.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.config import Settings
from shared.domain.catalog import load_catalog
from shared.domain.commands import ContinueVersion, Envelope
from shared.domain.compute import GalleryVersionState, RegionReplication, TargetRegion
from shared.domain.errors import AzureOperationError, RequestRefused
from shared.domain.model import ImageVersion, PendingOperation, Stage, Status, VersionNumber
from shared.domain.records import Changes
from shared.steps.deps import Deps
from shared.steps.replication import SAME_REGIONS
from shared.steps.versions import continue_version
from tests.conftest import make_version
from tests.unit.fakes import FakeClock, FakeCompute, make_deps, replicated

CATALOG = load_catalog(Path(__file__).resolve().parents[2] / "catalog")
NOW = FakeClock().current
V100, V101 = VersionNumber.parse("1.0.0"), VersionNumber.parse("1.0.1")
PRODUCTION = ("westeurope", "northeurope")


def world(
    target: Stage = Stage.PRODUCTION,
    previous: Status | None = Status.READY,
    operation: str = "",
    compute: FakeCompute | None = None,
) -> tuple[Deps, FakeCompute]:
    """1.0.1 replicating to `target` (attempt 2); 1.0.0 serving production with `previous` status."""
    compute = compute or FakeCompute()
    deps = make_deps(CATALOG, compute=compute)
    deps.settings = Settings(event_grid=False)
    pending = PendingOperation(kind="replicate", started_at=NOW - timedelta(minutes=10), operation=operation)
    stage_before = Stage.VALIDATION if target is Stage.PRODUCTION else Stage.TEST
    versions: list[ImageVersion] = [
        make_version(
            "1.0.1", status=Status.REPLICATING, stage=stage_before, target_stage=target, pending=pending, op_attempt=2
        )
    ]
    pointers = deps.records.get_pointers("office")
    if previous is not None:
        versions.append(make_version("1.0.0", status=previous, stage=Stage.PRODUCTION))
        pointers = pointers.evolve(production=V100)
    deps.records.commit(Changes(workload="office", versions=versions, pointers=pointers))
    return deps, compute


def advance(deps: Deps, attempt: int = 2, retry: int = 0) -> list[Envelope]:
    command = ContinueVersion(workload="office", version="1.0.1", operation="replicate", attempt=attempt, retry=retry)
    return continue_version(command, deps)


def events(deps: Deps, version: VersionNumber = V101) -> list[tuple[str, str]]:
    return [(e.kind, e.detail) for e in deps.records.list_events("office", version)]


def test_production_replicated_serves_production_and_supersedes_the_previous_version() -> None:
    """1.0.1 READY in production and visible to latest; 1.0.0 superseded and the rollback target."""
    deps, compute = world()
    compute.versions["1.0.1"] = replicated("1.0.1", PRODUCTION)
    [message] = advance(deps)
    new, old = deps.records.get_version("office", V101), deps.records.get_version("office", V100)
    assert (new.status, new.stage, new.target_stage, new.pending, new.op_attempt) == (
        Status.READY, Stage.PRODUCTION, None, None, 3,
    )  # fmt: skip
    assert old.status is Status.SUPERSEDED
    pointers = deps.records.get_pointers("office")
    assert (pointers.production, pointers.rollback) == (V101, V100)
    assert compute.calls == [("update_gallery_version", ("1.0.1", {"exclude_from_latest": False}))]
    assert events(deps) == [("promoted", "Win11 | Office | v1.0 | 2026-11 serves production (westeurope, northeurope)")]
    assert events(deps, V100) == [("superseded", "replaced in production by 1.0.1; now the rollback target")]
    [promoted] = deps.records.list_events("office", V101)
    [superseded] = deps.records.list_events("office", V100)
    assert (promoted.actor, promoted.from_status, promoted.to_status, promoted.stage) == (
        "step:replicate", Status.REPLICATING, Status.READY, Stage.PRODUCTION,
    )  # fmt: skip
    assert (superseded.actor, superseded.from_status, superseded.to_status, superseded.stage) == (
        "step:replicate", Status.READY, Status.SUPERSEDED, Stage.PRODUCTION,
    )  # fmt: skip
    assert message.subject == "reconcile"
    assert json.loads(message.body)["after"] == "production:1.0.1"


def test_a_previous_production_version_no_longer_ready_is_not_superseded_but_stays_the_rollback_target() -> None:
    """A withdrawn 1.0.0 keeps its status; the rollback pointer still names it."""
    deps, compute = world(previous=Status.WITHDRAWN)
    compute.versions["1.0.1"] = replicated("1.0.1", PRODUCTION)
    advance(deps)
    assert deps.records.get_version("office", V100).status is Status.WITHDRAWN
    assert deps.records.get_pointers("office").rollback == V100
    assert events(deps, V100) == []


def test_the_first_production_version_has_no_rollback_target() -> None:
    """Nothing served production before: no supersede, no rollback target."""
    deps, compute = world(previous=None)
    compute.versions["1.0.1"] = replicated("1.0.1", PRODUCTION)
    advance(deps)
    pointers = deps.records.get_pointers("office")
    assert (pointers.production, pointers.rollback) == (V101, None)


def test_validation_replicated_moves_the_validation_pointer_and_starts_validation_hidden_from_latest() -> None:
    """Into validation: the pointer moves, nothing is made visible to latest, the validation starts now."""
    deps, compute = world(target=Stage.VALIDATION)
    compute.versions["1.0.1"] = replicated("1.0.1")
    [message] = advance(deps)
    assert deps.records.get_pointers("office").validation == V101
    assert deps.records.get_pointers("office").production == V100
    assert compute.calls == []
    body = json.loads(message.body)
    assert (body["operation"], body["attempt"], message.scheduled_for) == ("validate", 3, None)
    assert events(deps) == [("promoted", "Win11 | Office | v1.0 | 2026-11 serves validation (westeurope)")]


def test_stages_sharing_their_regions_complete_without_reading_the_gallery() -> None:
    """SAME_REGIONS: nothing replicates, so no read is made (a 404 here would fail a good promotion)."""
    deps, _ = world(target=Stage.VALIDATION, operation=SAME_REGIONS)
    advance(deps)  # FakeCompute has no 1.0.1: a read would fail it
    assert deps.records.get_version("office", V101).status is Status.READY


def test_a_gallery_version_gone_during_replication_fails_the_version() -> None:
    """No gallery version: FAILED with the reason, no message, the operation cleared."""
    deps, _ = world()
    assert advance(deps) == []
    version = deps.records.get_version("office", V101)
    assert (version.status, version.pending, version.op_attempt) == (Status.FAILED, None, 3)
    assert events(deps) == [("failed", "gallery version 1.0.1 no longer exists")]
    [event] = deps.records.list_events("office", V101)
    assert (event.from_status, event.to_status, event.stage, event.actor) == (
        Status.REPLICATING, Status.FAILED, Stage.PRODUCTION, "step:replicate",
    )  # fmt: skip


class Recording(FakeCompute):
    """Records the gallery and definition of every read and update too."""

    def get_gallery_version(self, gallery: str, definition: str, version: str) -> GalleryVersionState | None:
        self.calls.append(("get_gallery_version", (gallery, definition, version)))
        return super().get_gallery_version(gallery, definition, version)

    def update_gallery_version(self, gallery: str, definition: str, version: str, **changes: Any) -> None:
        self.calls.append(("update", (gallery, definition, version, changes)))


def failed_region(targets: tuple[TargetRegion, ...] = ()) -> GalleryVersionState:
    done = replicated("1.0.1", PRODUCTION)
    regions = (done.regions[0], RegionReplication("northeurope", "Failed", 20, "quota"))
    return replace(done, regions=regions, aggregated="InProgress", targets=targets)


def test_a_failed_region_is_retried_and_looked_at_again() -> None:
    """A Failed region: retried (counted), audited, and the next look after Azure's Retry-After."""
    deps, compute = world(compute=Recording(retry_after=30))
    compute.versions["1.0.1"] = failed_region()
    [message] = advance(deps)
    version = deps.records.get_version("office", V101)
    assert (version.replication_retries, version.op_attempt) == ({"northeurope": 1}, 3)
    [event] = deps.records.list_events("office", V101)
    assert (event.kind, event.actor) == ("replication-retried", "step:replicate")
    assert message.scheduled_for == NOW + timedelta(seconds=30)
    wanted = (TargetRegion("westeurope", 2, "Standard_ZRS"), TargetRegion("northeurope", 2, "Standard_ZRS"))
    assert compute.calls == [
        ("get_gallery_version", ("gal_avd_images", "win11-24h2-office", "1.0.1")),
        ("update", ("gal_avd_images", "win11-24h2-office", "1.0.1", {"target_regions": wanted})),
    ]


def test_a_retry_sends_azures_own_target_list_and_waits_behind_event_grid() -> None:
    """Azure's targets are re-sent as they are; with Event Grid the first look is the safety net (6 min)."""
    deps, compute = world(compute=Recording())
    deps.settings = Settings(event_grid=True)
    azure_has = (TargetRegion("westeurope", 1, "Standard_LRS"), TargetRegion("northeurope", 1, "Standard_LRS"))
    compute.versions["1.0.1"] = failed_region(azure_has)
    [message] = advance(deps)
    assert compute.calls[-1] == (
        "update",
        ("gal_avd_images", "win11-24h2-office", "1.0.1", {"target_regions": azure_has}),
    )
    assert message.scheduled_for == NOW + timedelta(minutes=6)


def test_with_event_grid_a_stalled_replication_waits_on_the_safety_net() -> None:
    """No progress after 10 minutes with Event Grid: the next look is the longest, not the plain back-off."""
    deps, compute = world(target=Stage.VALIDATION)
    deps.settings = Settings(event_grid=True)
    stalled = replicated("1.0.1")
    compute.versions["1.0.1"] = replace(
        stalled, regions=(RegionReplication("westeurope", "Replicating", 0),), aggregated="InProgress"
    )
    [message] = advance(deps)
    assert message.scheduled_for == NOW + timedelta(minutes=8)


def test_production_is_made_visible_in_its_own_gallery_definition() -> None:
    """The excludeFromLatest update names the workload's gallery and image definition."""
    deps, compute = world(compute=Recording())
    compute.versions["1.0.1"] = replicated("1.0.1", PRODUCTION)
    advance(deps)
    assert compute.calls[-1] == (
        "update", ("gal_avd_images", "win11-24h2-office", "1.0.1", {"exclude_from_latest": False}),
    )  # fmt: skip


def test_a_ready_version_with_a_leftover_target_stage_is_left_alone() -> None:
    """Not REPLICATING (even with a target stage recorded): no read, no change."""
    compute = Recording()
    deps = make_deps(CATALOG, compute=compute)
    ready = make_version("1.0.1", status=Status.READY, target_stage=Stage.PRODUCTION, op_attempt=2)
    deps.records.commit(Changes(workload="office", versions=[ready]))
    assert advance(deps) == []
    assert (compute.calls, deps.records.get_version("office", V101).status) == ([], Status.READY)


def test_replication_in_progress_is_looked_at_again_later() -> None:
    """Half done: the attempt moves on and the next look is scheduled from the prediction."""
    deps, compute = world(target=Stage.VALIDATION)
    half = replicated("1.0.1")
    compute.versions["1.0.1"] = type(half)(
        **{
            **half.__dict__,
            "regions": (type(half.regions[0])("westeurope", "Replicating", 80),),
            "aggregated": "InProgress",
        }
    )
    [message] = advance(deps)
    assert deps.records.get_version("office", V101).op_attempt == 3
    assert message.scheduled_for == NOW + timedelta(minutes=2, seconds=35)
    assert json.loads(message.body)["trigger"] == "recheck"


def test_a_stale_message_re_sends_the_current_operation_without_running_it() -> None:
    """Attempt 1 while the version is at 2: the step does not run (no read, no write)."""
    deps, _ = world()
    [message] = advance(deps, attempt=1)
    assert json.loads(message.body)["attempt"] == 2
    assert deps.records.get_version("office", V101).status is Status.REPLICATING
    assert events(deps) == []


def test_a_version_no_longer_replicating_is_left_alone() -> None:
    """A version that left REPLICATING meanwhile: nothing happens."""
    deps = make_deps(CATALOG)
    deps.records.commit(Changes(workload="office", versions=[make_version("1.0.1", status=Status.READY, op_attempt=2)]))
    assert advance(deps) == []
    assert deps.records.list_events("office") == []


def test_a_message_for_an_unknown_version_is_refused_with_its_name() -> None:
    """No such version: a refusal that names the workload and the version."""
    with pytest.raises(RequestRefused, match="^office has no version 1.0.1$"):
        advance(make_deps(CATALOG))


class Throttled(FakeCompute):
    def get_gallery_version(self, gallery: str, definition: str, version: str) -> None:
        raise AzureOperationError("get version", "TooManyRequests", "slow down", status=429)


class Refused(FakeCompute):
    def get_gallery_version(self, gallery: str, definition: str, version: str) -> None:
        raise AzureOperationError("get version", "AuthorizationFailed", "no", status=403)


def test_throttling_re_sends_the_same_step_later_and_a_permanent_error_is_raised() -> None:
    """429: the same command again (retry + 1) in 1 + retry minutes; a 403 or the retry limit raises."""
    deps, _ = world(compute=Throttled())
    [again] = advance(deps, retry=3)
    body = json.loads(again.body)
    assert (body["retry"], body["trigger"], again.scheduled_for) == (4, "recheck", NOW + timedelta(minutes=4))
    [capped] = advance(deps, retry=20)
    assert capped.scheduled_for == NOW + timedelta(minutes=10)
    with pytest.raises(AzureOperationError):
        advance(deps, retry=30)
    refused, _ = world(compute=Refused())
    with pytest.raises(AzureOperationError, match="AuthorizationFailed"):
        advance(refused)


def test_completing_production_reads_the_workload_once() -> None:
    """One query for the version, the pointers and the previous production version, one commit."""
    deps, compute = world()
    compute.versions["1.0.1"] = replicated("1.0.1", PRODUCTION)
    deps.records.round_trips = 0  # type: ignore[attr-defined]
    advance(deps)
    assert deps.records.round_trips == 2  # type: ignore[attr-defined]
