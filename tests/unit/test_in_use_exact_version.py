"""In use means what hosts run: a host deployed from the definition ("latest") counts by its exactVersion."""

from __future__ import annotations

from shared.domain.catalog import Retention
from shared.domain.model import Pointers, Stage, Status
from shared.domain.retention import Action, in_use_key, plan
from tests.conftest import T0, make_version

DEFINITION = "/subscriptions/s/resourceGroups/rg-avd-images/providers/Microsoft.Compute/galleries/g/images/office"


def version(text: str) -> object:
    return make_version(text, status=Status.READY, stage=Stage.TEST, gallery_version_id=f"{DEFINITION}/versions/{text}")


def test_definition_reference_counts_its_exact_version() -> None:
    """A definition id with exactVersion names that version; a version id names itself, whatever exactVersion says."""
    assert in_use_key(DEFINITION, "1.0.1") == f"{DEFINITION}/versions/1.0.1".lower()
    assert in_use_key(DEFINITION.upper(), "1.0.1") == f"{DEFINITION}/versions/1.0.1".lower()
    assert in_use_key(f"{DEFINITION}/versions/1.0.0", "1.0.0") == f"{DEFINITION}/versions/1.0.0".lower()
    assert in_use_key(DEFINITION, None) == DEFINITION.lower()
    assert in_use_key(None, "26100.1.1") is None  # a marketplace image: not ours to protect
    assert in_use_key("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/images/managed", None) is None


def test_host_on_latest_keeps_the_version_it_runs() -> None:
    """keep=1 would deprecate 1.0.0; a host deployed from the definition that got 1.0.0 keeps it."""
    versions = [version("1.0.0"), version("1.0.1")]
    policy = Retention(keep=1, grace_days=14)
    in_use = {in_use_key(DEFINITION, "1.0.0"): 1}
    found = {
        str(d.version): (d.action, d.reason) for d in plan(versions, Pointers(workload="office"), policy, in_use, T0)
    }  # type: ignore[arg-type]
    assert found["1.0.0"] == (Action.KEEP, "used by a VM or scale set")
    assert found["1.0.1"] == (Action.KEEP, "one of the newest 1")


def test_scale_set_on_latest_without_exact_version_keeps_the_definition() -> None:
    """A scale set model referencing the definition without exactVersion keeps every version, saying why."""
    versions = [version("1.0.0"), version("1.0.1")]
    policy = Retention(keep=1, grace_days=14)
    found = {d.version: d for d in plan(versions, Pointers(workload="office"), policy, {DEFINITION.lower(): 2}, T0)}  # type: ignore[arg-type]
    (older,) = [d for d in found.values() if str(d.version) == "1.0.0"]
    assert older.action is Action.KEEP
    assert "without saying which version" in older.reason
