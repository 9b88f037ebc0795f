"""The retention plan: what is kept, deprecated or deleted, and why."""

from __future__ import annotations

from datetime import timedelta

from shared.domain.catalog import Retention
from shared.domain.model import Pointers, Stage, Status, VersionNumber
from shared.domain.retention import Action, plan
from tests.conftest import T0, make_version

V = VersionNumber.parse


def ready(text: str, **changes: object) -> object:
    return make_version(
        text, status=Status.READY, stage=Stage.TEST, gallery_version_id=f"/g/versions/{text}", **changes
    )


def decisions(
    versions: list[object],
    pointers: Pointers,
    keep: int = 1,
    pinned: tuple[str, ...] = (),
    in_use: dict[str, int] | None = None,
) -> dict[str, tuple[Action, str]]:
    policy = Retention(keep=keep, pinned=pinned, grace_days=14)
    return {str(d.version): (d.action, d.reason) for d in plan(versions, pointers, policy, in_use or {}, T0)}  # type: ignore[arg-type]


def test_newest_and_in_use_are_kept_others_deprecated() -> None:
    """keep=1 keeps the newest and every pointer's version; the rest is deprecated with a reason."""
    versions = [ready(f"1.0.{i}") for i in range(5)]
    pointers = Pointers(workload="office", production=V("1.0.2"), rollback=V("1.0.1"), dr=V("1.0.2"))
    found = decisions(versions, pointers)
    assert found["1.0.4"] == (Action.KEEP, "one of the newest 1")
    assert found["1.0.2"] == (Action.KEEP, "serves production")
    assert found["1.0.1"] == (Action.KEEP, "production rollback target")
    assert found["1.0.3"][0] is Action.DEPRECATE
    assert found["1.0.0"] == (Action.DEPRECATE, "ready, not among the newest 1 and not in use")


def test_pinned_and_used_by_vms_are_kept() -> None:
    """Pinned versions and versions a VM or scale set uses are never retired."""
    versions = [ready("1.0.0"), ready("1.0.1"), ready("1.0.2")]
    found = decisions(versions, Pointers(workload="office"), pinned=("1.0.0",), in_use={"/g/versions/1.0.1": 3})
    assert found["1.0.0"] == (Action.KEEP, "pinned in the catalog")
    assert found["1.0.1"] == (Action.KEEP, "used by a VM or scale set")


def test_deprecated_versions_are_deleted_after_their_end_of_life() -> None:
    """Deletion waits for the end-of-life date; failed builds with nothing in Azure go at once."""
    versions = [
        ready("1.0.3"),
        make_version("1.0.2", status=Status.DEPRECATED, end_of_life=T0 + timedelta(days=1)),
        make_version("1.0.1", status=Status.DEPRECATED, end_of_life=T0 - timedelta(days=1)),
        make_version("1.0.0", status=Status.FAILED),
    ]
    found = decisions(versions, Pointers(workload="office"))
    assert found["1.0.2"] == (Action.KEEP, "deprecated until 2026-11-02")
    assert found["1.0.1"][0] is Action.DELETE
    assert found["1.0.0"] == (Action.DELETE, "failed before capture; nothing in Azure")


def test_withdrawn_is_kept_until_a_newer_version_serves_production() -> None:
    """A rolled-back version is evidence for the incident until production moves past it."""
    versions = [
        make_version("1.0.1", status=Status.WITHDRAWN, stage=Stage.PRODUCTION, gallery_version_id="/g/1.0.1"),
        ready("1.0.0"),
    ]
    kept = decisions(versions, Pointers(workload="office", production=V("1.0.0")))
    assert kept["1.0.1"][0] is Action.KEEP
    versions.append(ready("1.0.2"))
    retired = decisions(versions, Pointers(workload="office", production=V("1.0.2")))
    assert retired["1.0.1"][0] is Action.DEPRECATE
    assert decisions([make_version("1.0.0", status=Status.DELETED)], Pointers(workload="office")) == {}


def test_a_withdrawn_version_is_not_said_to_be_outside_the_newest_when_there_are_only_that_many() -> None:
    """With keep=3 and three versions, the withdrawn one is retired as withdrawn, not "not among the newest 3"."""
    withdrawn = make_version("1.0.1", status=Status.WITHDRAWN, gallery_version_id="/g/versions/1.0.1")
    versions = [ready("1.0.0"), withdrawn, ready("1.0.2")]
    found = decisions(versions, Pointers(workload="office", production=V("1.0.2"), rollback=V("1.0.0")), keep=3)
    assert found["1.0.1"] == (
        Action.DEPRECATE,
        "withdrawn and not in use; withdrawn versions do not count as newest",
    )
