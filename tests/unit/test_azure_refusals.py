"""The product does what Azure's refusals demand: storage types fixed per region, retries that keep
Azure's replica counts, 409s that are refusals rather than "already started"."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from shared.domain.catalog import StorageAccountType, Workload, load_catalog, stricter
from shared.domain.compute import GalleryVersionState, OperationState, RegionReplication, TargetRegion
from shared.domain.errors import AzureOperationError
from shared.domain.model import Stage
from shared.steps import replication
from shared.steps.outcome import start_once
from tests.conftest import make_version
from tests.unit.fakes import FakeCompute

CATALOG = load_catalog(Path(__file__).resolve().parents[2] / "catalog")
QUOTA = (
    "Operation could not be completed as it results in exceeding approved Total Regional Cores quota. "
    "Additional details - Deployment Model: Resource Manager, Location: westeurope, Current Limit: 10, "
    "Current Usage: 8, Additional Required: 4, (Minimum) New Limit Required: 12."
)


def test_region_storage_type_is_planned_for_its_strictest_stage() -> None:
    """office's westeurope serves test (LRS) and production (ZRS): ZRS from the first replication on."""
    office = CATALOG.get("office")
    first = {t.name: t.storage_account_type for t in replication.target_regions(office, Stage.TEST)}
    later = {t.name: t.storage_account_type for t in replication.target_regions(office, Stage.PRODUCTION)}
    assert first == {"westeurope": "Standard_ZRS"}
    assert later["westeurope"] == first["westeurope"], "no stage may change a replicated region's storage type"


def test_catalog_with_unorderable_storage_types_in_one_region_is_refused() -> None:
    """ZRS in one stage and Premium_LRS in another for the same region would need a change: refused."""
    office = CATALOG.get("office").model_dump(mode="json")
    office["stages"]["test"]["storage_account_type"] = "Premium_LRS"
    with pytest.raises(ValidationError) as err:
        Workload.model_validate(office)
    assert "region westeurope" in str(err.value)
    assert "Premium_LRS" in str(err.value)
    assert stricter(StorageAccountType.STANDARD_LRS, StorageAccountType.PREMIUM_LRS) is StorageAccountType.PREMIUM_LRS


def test_region_retry_resends_azures_counts_not_the_catalogs() -> None:
    """Retrying a failed region re-sends the regions as Azure has them: replica counts are never changed."""
    workload = CATALOG.get("office")
    azure = (TargetRegion("West Europe", 5, "Standard_ZRS"), TargetRegion("North Europe", 1, "Standard_ZRS"))
    state = GalleryVersionState(
        id="/v/1.0.0",
        name="1.0.0",
        provisioning=OperationState.FAILED,
        aggregated="Failed",
        regions=(RegionReplication("North Europe", "Failed", 40),),
        target_regions=tuple(t.name for t in azure),
        exclude_from_latest=True,
        end_of_life=None,
        targets=azure,
    )
    compute = FakeCompute()
    wanted = replication.target_regions(workload, Stage.PRODUCTION)
    version = make_version("1.0.0", workload="office")
    retried, _ = replication.retry_region(compute, workload, version, wanted, "northeurope", state)
    assert compute.calls == [("update_gallery_version", ("1.0.0", {"target_regions": azure}))]
    assert retried.replication_retries == {"northeurope": 1}


def _refuse(code: str, message: str) -> None:
    raise AzureOperationError("create VM x", code, message, 409)


def test_quota_refusal_is_not_already_started() -> None:
    """409 OperationNotAllowed with a quota message goes up with Azure's words; it is not 'under way'."""
    with pytest.raises(AzureOperationError) as err:
        start_once(_refuse, "OperationNotAllowed", QUOTA, exists=lambda: True)
    assert "Total Regional Cores quota" in str(err.value)


def test_409_counts_as_under_way_only_if_the_resource_exists() -> None:
    """A 409 for something that exists is a redelivery (goes on); for something missing it is a refusal."""
    busy = "Operation 'write' is not allowed since the VM is currently executing operation 'write'."
    start_once(_refuse, "OperationNotAllowed", busy, exists=lambda: True)
    start_once(_refuse, "Conflict", busy)  # nothing to ask: as before
    with pytest.raises(AzureOperationError):
        start_once(_refuse, "Conflict", "contains TrustedLaunch or ConfidentialVM security data", exists=lambda: False)
