"""Reconcile's DR flag names every DR region production still lacks (shared.steps.reconcile._dr).

When DR's version is gone, production's version takes DR over only once it is in all of DR's
regions; until then the workload is flagged with the regions it is being replicated to, listed
the way an admin reads them.
"""

from __future__ import annotations

from pathlib import Path

from shared.domain.catalog import Catalog, load_catalog
from shared.domain.commands import Reconcile
from shared.domain.compute import GalleryVersionState, OperationState
from shared.domain.model import Stage, Status, VersionNumber
from shared.domain.records import Changes
from shared.steps import reconcile
from tests.conftest import make_version
from tests.unit.fakes import FakeClock, FakeCompute, make_deps

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "catalog").is_dir())  # also from a subfolder
CATALOG = load_catalog(ROOT / "catalog")
NOW = FakeClock().current
V = VersionNumber.parse


class GalleryCompute(FakeCompute):
    """FakeCompute whose image definition lists its `versions`."""

    def list_gallery_versions(self, gallery: str, definition: str) -> list[GalleryVersionState]:
        return list(self.versions.values())


def with_dr_regions(*regions: str) -> Catalog:
    """The repository catalog with office's DR stage spread over `regions`."""
    office = CATALOG.get("office")
    assert office.stages.dr is not None
    dr = office.stages.dr.model_copy(update={"regions": regions})
    changed = office.model_copy(update={"stages": office.stages.model_copy(update={"dr": dr})})
    return Catalog(workloads=tuple(changed if w.name == "office" else w for w in CATALOG.workloads))


def test_dr_waiting_on_production_lists_each_missing_region() -> None:
    """Production lacks both DR regions: the flag lists them comma-separated, in the catalog's order."""
    production = GalleryVersionState(
        id="/galleries/gal_avd_images/images/win11-24h2-office/versions/1.0.0",
        name="1.0.0",
        provisioning=OperationState.SUCCEEDED,
        aggregated="Completed",
        regions=(),
        target_regions=("westeurope", "northeurope"),
        exclude_from_latest=False,
        end_of_life=None,
    )
    deps = make_deps(
        with_dr_regions("swedencentral", "norwayeast"), compute=GalleryCompute(versions={"1.0.0": production})
    )
    versions = [
        make_version("1.0.0", status=Status.READY, stage=Stage.PRODUCTION, gallery_version_id="/v/1.0.0"),
        make_version("1.0.1", status=Status.READY, stage=Stage.DR, gallery_version_id="/v/1.0.1"),
    ]
    pointers = deps.records.get_pointers("office").evolve(production=V("1.0.0"), dr=V("1.0.1"))
    deps.records.commit(Changes(workload="office", versions=versions, pointers=pointers))
    reconcile.reconcile(Reconcile(workload="office", requested_at=NOW), deps)
    health = deps.records.get_health("office")
    assert health is not None
    assert health.flags == (
        "DR serves 1.0.1, which no longer exists; replicating production's 1.0.0 to swedencentral, norwayeast",
    )
