"""Applying the retention plan (shared.steps.versions.prune, plan_prune): what Azure is asked, what is recorded.

A deprecated version is excluded from latest with its end of life in the gallery; an expired one is
deleted; a version deleted by hand is recorded as such instead of failing the pass; a dry run
changes nothing; the compute inventory is listed only when something could be retired.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.domain.catalog import load_catalog
from shared.domain.commands import Prune
from shared.domain.errors import AzureOperationError
from shared.domain.model import ImageVersion, Stage, Status, VersionNumber
from shared.domain.records import Changes
from shared.steps.deps import Deps
from shared.steps.versions import plan_prune, prune
from tests.conftest import make_version
from tests.unit.fakes import FakeClock, FakeCompute, make_deps

CATALOG = load_catalog(Path(__file__).resolve().parents[2] / "catalog")
NOW = FakeClock().current
EOL = datetime(2026, 11, 16, 8, 0, tzinfo=UTC)  # now + grace_days (14)
V = VersionNumber.parse
GALLERY = ("gal_avd_images", "win11-24h2-office")


@dataclass
class PruneCompute(FakeCompute):
    gone: set[str] = field(default_factory=set)  # versions whose update answers 404
    refuse: AzureOperationError | None = None
    listed: int = 0

    def update_gallery_version(self, gallery: str, definition: str, version: str, **changes: Any) -> None:
        self.calls.append(("update", (gallery, definition, version, changes)))
        if self.refuse is not None:
            raise self.refuse
        if version in self.gone:
            raise AzureOperationError("update version", "ResourceNotFound", "gone", status=404)

    def start_delete_gallery_version(self, gallery: str, definition: str, version: str) -> None:
        self.calls.append(("delete", (gallery, definition, version)))

    def images_in_use(self) -> dict[str, int]:
        self.listed += 1
        return dict(self.in_use)


def estate(
    compute: PruneCompute | None = None, old: Status = Status.SUPERSEDED, expired: bool = True
) -> tuple[Deps, PruneCompute]:
    """1.0.0 (old status), 1.0.1-1.0.5 superseded, 1.0.6 in production; 1.0.7 deprecated and past its end of life."""
    compute = compute or PruneCompute()
    deps = make_deps(CATALOG, compute=compute)
    versions: list[ImageVersion] = [
        make_version("1.0.0", status=old, stage=Stage.PRODUCTION, gallery_version_id="/v/1.0.0")
    ]
    versions += [
        make_version(f"1.0.{i}", status=Status.SUPERSEDED, stage=Stage.PRODUCTION, gallery_version_id=f"/v/1.0.{i}")
        for i in range(1, 6)
    ]
    versions.append(make_version("1.0.6", status=Status.READY, stage=Stage.PRODUCTION, gallery_version_id="/v/1.0.6"))
    if expired:
        versions.append(
            make_version(
                "1.0.7", status=Status.DEPRECATED, gallery_version_id="/v/1.0.7", end_of_life=NOW - timedelta(days=1)
            )
        )
    pointers = deps.records.get_pointers("office").evolve(production=V("1.0.6"), rollback=V("1.0.5"))
    deps.records.commit(Changes(workload="office", versions=versions, pointers=pointers))
    return deps, compute


def run(deps: Deps, **fields: Any) -> None:
    assert prune(Prune(workload="office", requested_at=NOW, **fields), deps) == []


def status(deps: Deps, text: str) -> Status:
    return deps.records.get_version("office", V(text)).status


def test_old_versions_are_deprecated_in_the_gallery_and_expired_ones_deleted() -> None:
    """1.0.0-1.0.3 excluded from latest with their end of life; 1.0.7 deleted; the newest three kept."""
    deps, compute = estate()
    run(deps)
    deprecate = {"exclude_from_latest": True, "end_of_life": EOL}
    assert compute.calls == [
        ("delete", (*GALLERY, "1.0.7")),
        *[("update", (*GALLERY, f"1.0.{i}", deprecate)) for i in (3, 2, 1, 0)],
    ]
    assert [status(deps, f"1.0.{i}") for i in range(8)] == [Status.DEPRECATED] * 4 + [
        Status.SUPERSEDED, Status.SUPERSEDED, Status.READY, Status.DELETED,
    ]  # fmt: skip
    assert deps.records.get_version("office", V("1.0.0")).end_of_life == EOL
    events = {str(e.version): e for e in deps.records.list_events("office")}
    assert (events["1.0.0"].kind, events["1.0.0"].actor, events["1.0.0"].detail) == (
        "deprecated", "retention", "deprecated (superseded, not among the newest 3 and not in use); end of life 2026-11-16",
    )  # fmt: skip
    assert (events["1.0.0"].from_status, events["1.0.0"].to_status) == (Status.SUPERSEDED, Status.DEPRECATED)
    assert (events["1.0.7"].kind, events["1.0.7"].detail) == ("deleted", "deleted (end of life 2026-11-01 passed)")
    assert (events["1.0.7"].from_status, events["1.0.7"].to_status) == (Status.DEPRECATED, Status.DELETED)


def test_a_dry_run_changes_nothing() -> None:
    """dry_run: the plan is made, nothing is asked of Azure or written."""
    deps, compute = estate()
    run(deps, dry_run=True)
    assert (compute.calls, deps.records.list_events("office")) == ([], [])
    assert status(deps, "1.0.0") is Status.SUPERSEDED


def test_a_version_deleted_by_hand_is_recorded_instead_of_deprecated() -> None:
    """The gallery answers 404 for 1.0.0: it is recorded as deleted outside the product, and the pass goes on."""
    deps, _ = estate(PruneCompute(gone={"1.0.0"}))
    run(deps)
    gone = deps.records.get_version("office", V("1.0.0"))
    assert (gone.status, gone.failure_reason) == (
        Status.DELETED,
        "deleted outside the product (found missing by retention)",
    )
    [event] = [e for e in deps.records.list_events("office") if str(e.version) == "1.0.0"]
    assert (event.kind, event.detail, event.to_status) == (
        "deprecated", "deleted outside the product (found missing by retention)", Status.DELETED,
    )  # fmt: skip
    assert status(deps, "1.0.1") is Status.DEPRECATED


def test_a_failed_version_missing_from_the_gallery_is_just_deprecated() -> None:
    """A failed run's version gone from the gallery is its own cleanup's doing: deprecated, not 'deleted by hand'."""
    deps, _ = estate(PruneCompute(gone={"1.0.0"}), old=Status.FAILED)
    run(deps)
    assert status(deps, "1.0.0") is Status.DEPRECATED


def test_other_azure_refusals_stop_the_pass() -> None:
    """A 403 is not a deletion by hand: it is raised, and the version stays as it was."""
    deps, _ = estate(PruneCompute(refuse=AzureOperationError("update", "AuthorizationFailed", "no", status=403)))
    with pytest.raises(AzureOperationError, match="AuthorizationFailed"):
        run(deps)
    assert status(deps, "1.0.0") is Status.SUPERSEDED


def test_a_version_never_captured_is_retired_without_asking_azure() -> None:
    """No gallery version id: only the record changes."""
    compute = PruneCompute()
    deps = make_deps(CATALOG, compute=compute)
    old = make_version("1.0.0", status=Status.DEPRECATED, end_of_life=NOW - timedelta(days=1))
    deps.records.commit(Changes(workload="office", versions=[old]))
    run(deps)
    assert (compute.calls, status(deps, "1.0.0")) == ([], Status.DELETED)


def test_the_inventory_is_listed_only_when_something_could_be_retired() -> None:
    """All kept: no listing of VMs and scale sets; something to retire: listed once."""
    quiet, compute = estate()
    deps = make_deps(CATALOG, compute=compute)
    deps.records.commit(
        Changes(workload="office", versions=[make_version("1.0.0", status=Status.READY, stage=Stage.TEST)])
    )
    assert {d.action.value for d in plan_prune("office", deps)} == {"keep"}
    assert compute.listed == 0
    plan_prune("office", quiet)
    assert compute.listed == 1


def test_a_sweeps_fresh_inventory_is_used_and_a_stale_one_listed_again() -> None:
    """An inventory up to 30 minutes old is used as given; older, compute is listed again."""
    deps, compute = estate()
    deps.clock.advance(timedelta(minutes=30))  # type: ignore[attr-defined]
    run(deps, in_use={}, dry_run=True)
    assert compute.listed == 0
    deps.clock.advance(timedelta(seconds=1))  # type: ignore[attr-defined]
    run(deps, in_use={}, dry_run=True)
    assert compute.listed == 1
