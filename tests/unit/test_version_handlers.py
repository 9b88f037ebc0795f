"""Promotion, rollback and event routing handlers on fakes."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from shared.domain.approvals import NothingToDo
from shared.domain.catalog import load_catalog
from shared.domain.commands import ContinueVersion, Promote, Rollback
from shared.domain.errors import RequestRefused
from shared.domain.model import Stage, Status, ValidationEvidence, VersionNumber
from shared.domain.records import Changes
from shared.messagebus import MessageBus
from shared.steps.events import route_event
from tests.conftest import T0, make_version
from tests.unit.fakes import ISSUER, FakeClock, FakeCompute, make_deps, replicated

CATALOG = load_catalog(Path(__file__).resolve().parents[2] / "catalog")
V100 = VersionNumber.parse("1.0.0")


def deps_with(*versions: object, compute: FakeCompute | None = None):  # type: ignore[no-untyped-def]
    deps = make_deps(CATALOG, compute=compute)
    deps.records.commit(Changes(workload="data-analyst", versions=list(versions)))  # type: ignore[arg-type]
    return deps


def in_test(text: str = "1.0.0", validated: bool = True) -> object:
    validations = (ValidationEvidence(stage=Stage.TEST, passed=True, at=T0, region="westeurope"),) if validated else ()
    return make_version(
        text,
        workload="data-analyst",
        status=Status.READY,
        stage=Stage.TEST,
        validations=validations,
        gallery_version_id=f"/v/{text}",
    )


def promote(target: Stage, approver: str = "data-lead@contoso.com") -> Promote:
    token = ISSUER.token_for(approver)
    return Promote(workload="data-analyst", version="1.0.0", target_stage=target, approver_token=token, requested_at=T0)


def test_promotion_to_a_stage_with_the_same_regions_checks_at_once() -> None:
    """Validation shares test's regions: no new replication, the stage tag moves, the check runs now."""
    compute = FakeCompute()
    deps = deps_with(in_test(), compute=compute)
    sent = MessageBus(deps).handle(promote(Stage.VALIDATION))
    version = deps.records.get_version("data-analyst", V100)
    assert (version.status, version.target_stage) == (Status.REPLICATING, Stage.VALIDATION)
    name, (number, changes) = compute.calls[0]
    assert (name, number, changes["target_regions"]) == ("update_gallery_version", "1.0.0", None)
    assert changes["tags"]["avd-lifecycle-stage"] == "validation"
    assert [e.scheduled_for for e in sent] == [None]
    assert "promotion-approved" in [e.kind for e in deps.records.list_events("data-analyst", V100)]


def test_promotion_to_new_regions_widens_replication_and_checks_later() -> None:
    """Production adds regions: the gallery version gets every stage's regions and a re-check is scheduled."""
    compute = FakeCompute()
    validated = (
        ValidationEvidence(stage=Stage.TEST, passed=True, at=T0, region="westeurope"),
        ValidationEvidence(stage=Stage.VALIDATION, passed=True, at=T0, region="westeurope"),
    )
    in_validation = make_version(
        "1.0.0",
        workload="office",
        status=Status.READY,
        stage=Stage.VALIDATION,
        validations=validated,
        gallery_version_id="/v",
    )
    deps = make_deps(CATALOG, compute=compute)
    deps.records.commit(Changes(workload="office", versions=[in_validation]))
    bus = MessageBus(deps)
    for person in ("cab-chair@contoso.com", "cab-deputy@contoso.com"):  # production: two people
        command = Promote(
            workload="office",
            version="1.0.0",
            target_stage=Stage.PRODUCTION,
            approver_token=ISSUER.token_for(person),
            requested_at=T0,
        )
        sent = bus.handle(command)
    regions = [t.name for t in compute.calls[0][1][1]["target_regions"]]
    assert regions == ["westeurope", "northeurope"]
    assert [e.scheduled_for is not None for e in sent] == [True]


def test_refused_promotion_changes_nothing() -> None:
    """A non-approver is refused with the reason; the version record is not rewritten, Azure not touched."""
    compute = FakeCompute()
    deps = deps_with(in_test(), compute=compute)
    before = deps.records.get_version("data-analyst", V100)
    with pytest.raises(RequestRefused, match="mallory@contoso.com .* is not an allowed approver for validation"):
        MessageBus(deps).handle(promote(Stage.VALIDATION, "mallory@contoso.com"))
    after = deps.records.get_version("data-analyst", V100)
    assert (after.status, after.etag) == (Status.READY, before.etag)
    assert compute.calls == []
    assert deps.records.list_events("data-analyst", V100) == []


def test_replication_done_moves_production_and_the_rollback_target() -> None:
    """When production replication completes, the old production version becomes the rollback target."""
    compute = FakeCompute(versions={"1.0.1": replicated("1.0.1")})
    old = make_version("1.0.0", workload="data-analyst", status=Status.READY, stage=Stage.PRODUCTION)
    new = make_version("1.0.1", workload="data-analyst", status=Status.REPLICATING, target_stage=Stage.PRODUCTION)
    deps = deps_with(old, new, compute=compute)
    pointers = deps.records.get_pointers("data-analyst").evolve(production=V100)
    deps.records.commit(Changes(workload="data-analyst", pointers=pointers))
    MessageBus(deps).handle(ContinueVersion(workload="data-analyst", version="1.0.1", operation="replicate", attempt=0))
    pointers = deps.records.get_pointers("data-analyst")
    assert (str(pointers.production), str(pointers.rollback)) == ("1.0.1", "1.0.0")
    assert deps.records.get_version("data-analyst", V100).status is Status.SUPERSEDED
    assert ("update_gallery_version", ("1.0.1", {"exclude_from_latest": False})) in compute.calls


def test_rollback_twice_is_applied_once() -> None:
    """The same rollback request redelivered does not roll back a second time."""
    compute = FakeCompute()
    current = make_version("1.0.1", workload="data-analyst", status=Status.READY, stage=Stage.PRODUCTION)
    previous = make_version("1.0.0", workload="data-analyst", status=Status.SUPERSEDED, stage=Stage.PRODUCTION)
    deps = deps_with(current, previous, compute=compute)
    pointers = deps.records.get_pointers("data-analyst").evolve(production=VersionNumber.parse("1.0.1"), rollback=V100)
    deps.records.commit(Changes(workload="data-analyst", pointers=pointers))
    command = Rollback(
        workload="data-analyst",
        version="1.0.1",
        approver_token=ISSUER.token_for("cab-chair@contoso.com"),
        requested_at=FakeClock().now(),
    )
    bus = MessageBus(deps)
    bus.handle(command)
    with pytest.raises(NothingToDo, match="this rollback of 1.0.1 was applied already"):
        bus.handle(command)
    pointers = deps.records.get_pointers("data-analyst")
    assert (pointers.production, pointers.rollback) == (V100, None)
    assert len([c for c in compute.calls if c[0] == "update_gallery_version"]) == 2


def arm(operation: str, uri: str, event_type: str = "Microsoft.Resources.ResourceWriteSuccess") -> dict[str, object]:
    return {
        "id": "1",
        "eventType": event_type,
        "eventTime": datetime(2026, 11, 2, tzinfo=T0.tzinfo).isoformat(),
        "data": {"operationName": operation, "resourceUri": uri},
    }


def test_gallery_version_events_continue_replication_and_trigger_retention() -> None:
    """A write event on a replicating version continues it and asks for a retention check."""
    replicating = make_version(
        "1.0.0", workload="data-analyst", status=Status.REPLICATING, target_stage=Stage.VALIDATION
    )
    deps = deps_with(replicating.evolve(pending=None))
    uri = "/subscriptions/s/resourceGroups/rg-avd-images/providers/Microsoft.Compute/galleries/gal_avd_images/images/win11-25h2-data-analyst/versions/1.0.0"
    sent, why = route_event(arm("Microsoft.Compute/galleries/images/versions/write", uri), deps)
    assert [e.subject for e in sent] == ["prune"]
    assert "retention check" in why
    cloud_event = {
        "id": "2",
        "type": "Microsoft.Resources.ResourceDeleteSuccess",
        "time": "2026-11-02T00:00:00Z",
        "data": {"operationName": "Microsoft.Compute/galleries/images/versions/delete", "resourceUri": uri},
    }
    # The product never deletes a version it still records as replicating: someone else did.
    assert [e.subject for e in route_event(cloud_event, deps)[0]] == ["prune", "reconcile"]


def test_a_handler_that_loses_an_etag_race_re_reads_and_decides_again() -> None:
    """A version row rewritten between a handler's read and its commit costs a re-read, not a delivery."""
    deps = deps_with(in_test())
    store: Any = deps.records
    original, raced = store.commit, []

    def commit(changes: Changes) -> None:
        if len(raced) < 2:  # someone else writes the version first, twice in a row
            raced.append(True)
            current = deps.records.get_version("data-analyst", V100)
            original(Changes(workload="data-analyst", versions=[current.evolve(drift=("touched",) * len(raced))]))
        original(changes)

    store.commit = commit
    MessageBus(deps).handle(promote(Stage.VALIDATION))
    version = deps.records.get_version("data-analyst", V100)
    assert (version.status, version.target_stage, len(raced)) == (Status.REPLICATING, Stage.VALIDATION, 2)
