"""Scale: the hourly sweep lists compute once and every workload's retention uses that one inventory.

Before, each workload's Prune listed every VM and scale set of the subscription itself (two ARM
reads per workload per hour: 10,000 at 5,000 workloads, and throttled).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from shared.domain.catalog import load_catalog
from shared.domain.commands import Envelope, Prune
from shared.domain.model import Stage, Status
from shared.domain.records import Changes
from shared.domain.retention import Action
from shared.entrypoints import Entrypoints
from shared.steps.versions import plan_prune, prune
from tests.conftest import make_version
from tests.unit.fakes import FakeCompute, make_deps

CATALOG = load_catalog(Path(__file__).resolve().parents[2] / "catalog")


@dataclass
class RecordingBus:
    sent: list[Envelope] = field(default_factory=list)

    def send(self, envelopes: object) -> None:
        self.sent.extend(envelopes)  # type: ignore[arg-type]


def definition_id(compute: FakeCompute, workload: str) -> str:
    gallery = CATALOG.get(workload).gallery
    return compute.id_of("Microsoft.Compute/galleries", f"{gallery.name}/images/{gallery.definition}")


def seeded() -> tuple[Entrypoints, FakeCompute, RecordingBus]:
    """Both sample workloads with five ready versions each: keep=3 retires 1.0.0 and 1.0.1 unless in use."""
    compute = FakeCompute()
    deps = make_deps(CATALOG, compute)
    for workload in CATALOG.names:
        versions = [
            make_version(
                f"1.0.{i}",
                workload=workload,
                status=Status.READY,
                stage=Stage.TEST,
                gallery_version_id=f"{definition_id(compute, workload)}/versions/1.0.{i}",
            )
            for i in range(5)
        ]
        deps.records.commit(Changes(workload=workload, versions=versions))
    bus = RecordingBus()
    return Entrypoints(deps, bus), compute, bus


def test_one_inventory_per_sweep_serves_every_workload() -> None:
    """The sweep lists compute once; each workload's Prune carries its share and applies it without listing."""
    entrypoints, compute, bus = seeded()
    office_host = f"{definition_id(compute, 'office')}/versions/1.0.0".lower()
    compute.in_use = {office_host: 2, "/subscriptions/s/other/image": 1}
    entrypoints.retention_and_sweep()
    prunes = [Prune.model_validate_json(e.body) for e in bus.sent if e.subject == "prune"]
    assert sorted(p.workload for p in prunes) == ["data-analyst", "office"]
    shares = {p.workload: p.in_use for p in prunes}
    assert shares == {"office": {office_host: 2}, "data-analyst": {}}
    for command in prunes:
        prune(command, entrypoints.deps)
    assert [c for c in compute.calls if c[0] == "images_in_use"] == [("images_in_use", None)]
    kept = entrypoints.deps.records.get_version("office", make_version("1.0.0").version)
    assert kept.status is Status.READY  # a host runs it: kept by the shared inventory
    assert entrypoints.deps.records.get_version("office", make_version("1.0.1").version).status is Status.DEPRECATED


def test_a_late_prune_lists_again() -> None:
    """A Prune applied long after its sweep does not trust the old inventory; one without any lists too."""
    entrypoints, compute, _ = seeded()
    deps = entrypoints.deps
    stale = Prune(workload="office", requested_at=deps.clock.now() - timedelta(hours=2), in_use={})
    prune(stale, deps)
    assert compute.calls.count(("images_in_use", None)) == 1
    assert deps.records.get_version("office", make_version("1.0.0").version).status is Status.DEPRECATED
    assert all(d.action is Action.KEEP for d in plan_prune("office", deps, {}))  # nothing left to retire
