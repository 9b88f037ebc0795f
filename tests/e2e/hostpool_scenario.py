"""Host pool scenario pieces of the host pool tests; what the demo and the benchmark share with them
lives in localrun/hostpools.py (product and demo code never import from tests/)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from localrun.hostpools import deploy_pool, host_versions, image_id, pool_id, to_production, with_pools
from localrun.runtime import LocalRuntime
from localrun.scenario import build
from shared.domain.catalog import Catalog, load_catalog
from shared.domain.hostpools import HostPoolPolicy
from shared.domain.model import BuildReason

ROOT = Path(__file__).resolve().parents[2]
POOL_RG = "rg-avd-hosts"

__all__ = ["POOL_RG", "image_id", "with_pools"]


def auto_policy(**changes: object) -> HostPoolPolicy:
    data: dict[str, object] = {
        "id": pool_id(POOL_RG, "hp-office-auto"),
        "rollout": "auto",
        "batch_size": 2,
        "min_available": 2,
        "drain_grace_minutes": 30,
        "failure_threshold": 1,
        "maintenance_window": {"days": ["sat", "sun"], "start": "22:00", "duration_minutes": 360, "time_zone": "UTC"},
    }
    data.update(changes)
    return HostPoolPolicy.model_validate(data)


def manual_policy(**changes: object) -> HostPoolPolicy:
    data: dict[str, object] = {
        "id": pool_id(POOL_RG, "hp-office-manual"),
        "rollout": "manual",
        "max_unavailable_percent": 50,
    }
    data.update(changes)
    return HostPoolPolicy.model_validate(data)


def catalog_with_pools(*pools: HostPoolPolicy) -> Catalog:
    return with_pools(load_catalog(ROOT / "catalog"), "office", *pools)


def office_to_production(runtime: LocalRuntime, version: str) -> None:
    """Validation then production; stops a few hours later, before any maintenance window opens."""
    to_production(runtime, version)


def pools_on_production(runtime: LocalRuntime, hosts: int = 6) -> None:
    """office 1.0.0 built, the pools deployed from it, then 1.0.0 promoted to production."""
    build(runtime, "office", "first-build", BuildReason.FIRST)
    deploy(runtime, image_id(runtime, "1.0.0"), hosts)
    office_to_production(runtime, "1.0.0")


def patch_to_production(runtime: LocalRuntime, version: str = "1.0.1") -> None:
    """A patch build promoted to production (the automatic rollout then waits for its window)."""
    build(runtime, "office", f"patch-{version.replace('.', '-')}", BuildReason.PATCH)
    office_to_production(runtime, version)


def deploy(runtime: LocalRuntime, image: str, hosts: int = 6, users: int = 0) -> None:
    for policy in runtime.catalog.get("office").host_pools:
        deploy_pool(runtime, policy, image, hosts, users)


def sign_in(runtime: LocalRuntime, policy: HostPoolPolicy, users: int) -> None:
    """Users sign in on every host of the pool (people, not an API)."""
    for host in runtime.sim.desktop.list_hosts(policy.resource_group, policy.name):
        runtime.sim.desktop.add_sessions(policy.resource_group, policy.name, host.name, users)


def versions(runtime: LocalRuntime, policy: HostPoolPolicy) -> Counter[str]:
    return host_versions(runtime, policy)
