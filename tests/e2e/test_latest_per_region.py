"""Reconcile checks 'latest' per region (issue 13): Azure hides a version from 'latest' by its own
excludeFromLatest or by a target region's excludeFromLatest, so a version can be visible in one
region only. Exactly the production version must be visible, in every region it is replicated to.
"""

from __future__ import annotations

from typing import Any

import pytest

from localrun.faults import RG, operator
from localrun.runtime import LocalRuntime
from localrun.scenario import build, promote, to_production
from shared.domain.catalog import Catalog
from shared.domain.commands import Reconcile
from shared.domain.model import BuildReason, Stage
from simulator.errors import ArmError
from tests.e2e.test_self_healing import WORKLOAD

GALLERY = "gal_avd_images"
WEST, SWEDEN = "westeurope", "swedencentral"


def image_id(runtime: LocalRuntime) -> str:
    definition = runtime.catalog.get(WORKLOAD).gallery.definition
    group = f"/subscriptions/{runtime.settings.subscription_id}/resourceGroups/{RG}"
    return f"{group}/providers/Microsoft.Compute/galleries/{GALLERY}/images/{definition}"


def latest_in(runtime: LocalRuntime, region: str) -> str:
    return str(runtime.sim.gallery.resolve_for_deployment(image_id(runtime), region).res.name)


def patch_by_hand(runtime: LocalRuntime, version: str, publishing: dict[str, Any]) -> None:
    """An admin's PATCH of the version's publishing profile through ARM (the real SDK)."""
    definition = runtime.catalog.get(WORKLOAD).gallery.definition
    body = {"properties": {"publishingProfile": publishing, "storageProfile": {}}}
    operator(runtime).gallery_image_versions.begin_update(RG, GALLERY, definition, version, body, polling=False)
    runtime.sim.clock.advance(3600)  # the update (and any replication it started) completes


def reconcile(runtime: LocalRuntime) -> None:
    runtime.submit(Reconcile(workload=WORKLOAD, requested_at=runtime.sim.clock.now()))
    runtime.run()


def repairs(runtime: LocalRuntime) -> list[str]:
    """What reconcile wrote to the audit trail."""
    return [e.detail for e in runtime.records.list_events(WORKLOAD) if e.kind == "reconciled"]


def region(name: str, exclude: bool) -> dict[str, Any]:
    return {"name": name, "regionalReplicaCount": 1, "storageAccountType": "Standard_LRS", "excludeFromLatest": exclude}


def test_a_non_production_version_visible_to_latest_in_one_region_only_is_excluded(catalog: Catalog) -> None:
    """A newer validation version made visible in the DR region only is found there and hidden again."""
    runtime = LocalRuntime(catalog, event_grid=False)
    build(runtime, WORKLOAD, "first-build", BuildReason.FIRST)
    to_production(runtime, WORKLOAD, "1.0.0", dr=True)
    build(runtime, WORKLOAD, "patch-1", BuildReason.PATCH)
    promote(runtime, WORKLOAD, "1.0.1", Stage.VALIDATION)
    patch_by_hand(
        runtime, "1.0.1", {"excludeFromLatest": False, "targetRegions": [region(WEST, True), region(SWEDEN, False)]}
    )
    assert (latest_in(runtime, WEST), latest_in(runtime, SWEDEN)) == ("1.0.0", "1.0.1")
    reconcile(runtime)
    assert "1.0.1 excluded from latest (it was visible in Sweden Central)" in repairs(runtime)
    runtime.sim.clock.advance(600)
    assert (latest_in(runtime, WEST), latest_in(runtime, SWEDEN)) == ("1.0.0", "1.0.0")
    reconcile(runtime)  # converged: a second pass finds nothing
    health = runtime.records.get_health(WORKLOAD)
    assert health is not None
    assert health.healthy, health


def test_the_production_version_excluded_in_one_region_is_made_visible_there(catalog: Catalog) -> None:
    """Production hidden from 'latest' in the DR region by that region's own flag is made visible there."""
    runtime = LocalRuntime(catalog, event_grid=False)
    build(runtime, WORKLOAD, "first-build", BuildReason.FIRST)
    to_production(runtime, WORKLOAD, "1.0.0", dr=True)
    patch_by_hand(runtime, "1.0.0", {"targetRegions": [region(WEST, False), region(SWEDEN, True)]})
    assert latest_in(runtime, WEST) == "1.0.0"
    with pytest.raises(ArmError, match="no version available"):
        latest_in(runtime, SWEDEN)
    reconcile(runtime)
    assert "1.0.0 made visible to latest in Sweden Central (it serves production)" in repairs(runtime)
    runtime.sim.clock.advance(600)
    assert (latest_in(runtime, WEST), latest_in(runtime, SWEDEN)) == ("1.0.0", "1.0.0")
    definition = runtime.catalog.get(WORKLOAD).gallery.definition
    stored = operator(runtime).gallery_image_versions.get(RG, GALLERY, definition, "1.0.0")
    assert [(t.name, t.exclude_from_latest) for t in stored.publishing_profile.target_regions] == [
        ("West Europe", False),
        ("Sweden Central", False),
    ]
