"""The temp-resource sweeper's decisions and the lines it reports, pinned literally per case."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import shared
from shared.domain.catalog import Catalog, DisabledWorkload, load_catalog
from shared.domain.compute import EXPIRES_TAG, RUN_TAG, WORKLOAD_TAG, TaggedResource
from shared.domain.errors import AzureOperationError
from shared.domain.model import BuildReason, PendingOperation, Run, RunState
from shared.domain.records import Changes
from shared.steps.deps import Deps
from shared.steps.sweep import sweep
from tests.conftest import make_version
from tests.unit.fakes import FakeCompute, make_deps

# The catalog beside the `shared` package: found the same way in mutmut's copy of the tree.
CATALOG = load_catalog(Path(shared.__file__).resolve().parents[1] / "catalog")
NOW = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
VM = "Microsoft.Compute/virtualMachines"
DISK = "Microsoft.Compute/disks"
SNAPSHOT = "Microsoft.Compute/snapshots"
NIC = "Microsoft.Network/networkInterfaces"


def res(name: str, owner: str, kind: str = VM, workload: str | None = "office", **tags: str) -> TaggedResource:
    """A tagged temp resource; `workload=None` leaves the workload tag off."""
    all_tags = {RUN_TAG: owner, **tags}
    if workload is not None:
        all_tags[WORKLOAD_TAG] = workload
    return TaggedResource(f"/rg/{kind}/{name}", kind, name, all_tags)


def deps_with(resources: list[TaggedResource], runs: dict[str, RunState] | None = None) -> tuple[Deps, FakeCompute]:
    compute = FakeCompute(tagged=resources)
    deps = make_deps(CATALOG, compute=compute)
    for run_id, state in (runs or {}).items():
        run = Run(
            workload="office", run_id=run_id, reason=BuildReason.PATCH, requested_by="s", started_at=NOW, state=state
        )
        deps.records.commit(Changes(workload="office", run=run))
    return deps, compute


def deleted(compute: FakeCompute) -> list[str]:
    return [str(arg).rsplit("/", 1)[-1] for call, arg in compute.calls if call == "start_delete"]


@pytest.mark.parametrize(
    ("expires", "suffix"),
    [
        ((NOW - timedelta(seconds=1)).isoformat(), " (tag expired 2026-11-02T07:59:59+00:00)"),
        (NOW.isoformat(), ""),  # expiring exactly now is not yet expired
        ((NOW + timedelta(hours=1)).isoformat(), ""),
        ("next tuesday", ""),  # an unreadable tag says nothing about expiry
    ],
)
def test_the_expiry_tag_is_named_only_once_it_has_passed(expires: str, suffix: str) -> None:
    """A removed resource's line names its expiry tag only when the tag lies strictly before now."""
    deps, _ = deps_with([res("office--done--vm", "done", **{EXPIRES_TAG: expires})], {"done": RunState.FAILED})
    assert sweep(deps, NOW) == [f"office--done--vm: run done failed{suffix}"]


def test_a_resource_without_an_expiry_tag_is_removed_without_one() -> None:
    """No expiry tag: the line gives only the reason."""
    deps, compute = deps_with([res("office--done--vm", "done")], {"done": RunState.SUCCEEDED})
    assert sweep(deps, NOW) == ["office--done--vm: run done succeeded"]
    assert deleted(compute) == ["office--done--vm"]


def test_a_resource_without_a_workload_tag_is_not_in_the_catalog() -> None:
    """A missing workload tag reads as the empty name, which no catalog holds."""
    deps, _ = deps_with([res("stray", "done", workload=None)])
    assert sweep(deps, NOW) == ["stray: workload '' is not in the catalog"]


def test_long_names_are_cut_to_40_characters_in_the_report() -> None:
    """A foreign workload tag or an owner that is no run id is quoted to its first 40 characters."""
    long_workload, long_owner = "w" * 45, "O" * 45
    deps, _ = deps_with([res("a", "done", workload=long_workload), res("b", long_owner)])
    assert sweep(deps, NOW) == [
        f"a: workload {'w' * 40!r} is not in the catalog",
        f"b: unknown owner {'O' * 40!r}",
    ]


def test_a_disabled_workloads_resources_stay_and_others_still_go() -> None:
    """A workload whose catalog file is broken keeps its resources; another unknown workload's go."""
    broken = DisabledWorkload(name="broken", file="broken.toml", issues=("bad",))
    catalog = Catalog(workloads=CATALOG.workloads, disabled=(broken,))
    compute = FakeCompute(tagged=[res("b--r1--vm", "r1", workload="broken"), res("g--r1--vm", "r1", workload="gone")])
    deps = make_deps(catalog, compute=compute)
    assert sweep(deps, NOW) == ["g--r1--vm: workload 'gone' is not in the catalog"]
    assert deleted(compute) == ["g--r1--vm"]


def _validation_deps(pending: bool | None) -> tuple[Deps, FakeCompute]:
    """A validation VM of office 1.0.0; its version record is pending (True), idle (False) or absent (None)."""
    deps, compute = deps_with([res("office--v1-0-0--val-test", "validate-v1-0-0")])
    if pending is not None:
        op = PendingOperation(kind="validate-vm", started_at=NOW) if pending else None
        # Another workload's 1.0.0 under validation must not keep office's VM.
        other = make_version("1.0.0", workload="data-analyst", pending=PendingOperation(kind="x", started_at=NOW))
        deps.records.commit(Changes(workload="data-analyst", versions=[other]))
        deps.records.commit(Changes(workload="office", versions=[make_version("1.0.0", pending=op)]))
    return deps, compute


def test_a_validation_vm_stays_while_its_version_validates() -> None:
    """The validation VM of a version whose validation is pending is kept."""
    deps, compute = _validation_deps(pending=True)
    assert sweep(deps, NOW) == []
    assert deleted(compute) == []


@pytest.mark.parametrize("pending", [False, None])
def test_a_validation_vm_goes_once_its_validation_is_over(pending: bool | None) -> None:
    """A validation VM goes when its version no longer validates, or has no record."""
    deps, compute = _validation_deps(pending=pending)
    assert sweep(deps, NOW) == ["office--v1-0-0--val-test: validation of 1.0.0 is over"]
    assert deleted(compute) == ["office--v1-0-0--val-test"]


def test_an_unreadable_validation_owner_is_unknown() -> None:
    """An owner that starts like a validation but names no version is reported as an unknown owner."""
    deps, _ = deps_with([res("x", "validate-vnext")])
    assert sweep(deps, NOW) == ["x: unknown owner 'validate-vnext'"]


def test_a_run_owner_that_looks_like_validation_in_capitals_is_a_run() -> None:
    """Only the exact lowercase prefix marks a validation owner; run ids are checked like any other."""
    deps, _ = deps_with([res("x", "validate-run")], {"validate-run": RunState.FAILED})
    assert sweep(deps, NOW) == ["x: run validate-run failed"]


def test_vms_go_first_then_snapshots_then_the_rest() -> None:
    """Deletes start with VMs, then snapshots, then disks and NICs (listing order kept within a kind)."""
    resources = [
        res("d1", "run-a", DISK),
        res("n1", "run-a", NIC),
        res("s1", "run-a", SNAPSHOT),
        res("v1", "run-b", VM),
        res("d2", "run-a", DISK),
    ]
    deps, compute = deps_with(resources, {"run-a": RunState.FAILED, "run-b": RunState.FAILED})
    sweep(deps, NOW)
    assert deleted(compute) == ["v1", "s1", "d1", "n1", "d2"]


def test_a_vms_disks_wait_for_it_and_other_runs_do_not() -> None:
    """Once a run's VM is being deleted its other resources wait for the next pass; another run's go now."""
    resources = [res("d1", "run-a", DISK), res("v1", "run-a", VM), res("d2", "run-b", DISK), res("v2", "live", VM)]
    deps, compute = deps_with(resources, {"run-a": RunState.FAILED, "run-b": RunState.FAILED, "live": RunState.RUNNING})
    assert sweep(deps, NOW) == [
        "v1: run run-a failed",
        "d1: run run-a failed; goes with its VM (next pass if not)",
        "d2: run run-b failed",
    ]
    assert deleted(compute) == ["v1", "d2"]


@dataclass
class RefusingCompute(FakeCompute):
    """Refuses to delete the named resources with NicInUse."""

    refuse: tuple[str, ...] = ()

    def start_delete(self, resource_id: str) -> None:
        if resource_id.rsplit("/", 1)[-1] in self.refuse:
            raise AzureOperationError("delete", "NicInUse", "in use", status=400)
        super().start_delete(resource_id)


def test_a_refused_delete_is_reported_and_the_rest_go_on() -> None:
    """An Azure error on one resource is named with its code; the resources after it are still deleted."""
    compute = RefusingCompute(
        tagged=[res("v1", "run-a", VM), res("n1", "run-b", NIC), res("d1", "run-b", DISK)], refuse=("v1", "n1")
    )
    deps = make_deps(CATALOG, compute=compute)
    for run_id in ("run-a", "run-b"):
        run = Run(workload="office", run_id=run_id, reason=BuildReason.PATCH, requested_by="s", started_at=NOW)
        deps.records.commit(Changes(workload="office", run=run.evolve(state=RunState.FAILED)))
    assert sweep(deps, NOW) == [
        "v1: run run-a failed; not deleted yet (NicInUse), next pass",
        "n1: run run-b failed; not deleted yet (NicInUse), next pass",
        "d1: run run-b failed",
    ]
    assert deleted(compute) == ["d1"]
