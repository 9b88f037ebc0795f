"""Host pool scenario pieces shared by the host pool tests (and read by the demo)."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path

from localrun.hostpools import deploy_pool
from localrun.issuer import OFFICE_APPROVERS
from localrun.runtime import LocalRuntime
from localrun.scenario import build
from shared.domain.catalog import Catalog, load_catalog
from shared.domain.commands import Promote
from shared.domain.hostpools import HostPoolPolicy
from shared.domain.model import BuildReason, Stage, VersionNumber
from shared.steps.rollout import gallery_version_id

# Who signs: the sample directory's validation approver, then production's two people.
SIGNERS = [(Stage(stage), person) for stage in ("validation", "production") for person in OFFICE_APPROVERS[stage]]
PROMOTION_TIME = timedelta(hours=3)  # validation deploy, replication: done well within this

ROOT = Path(__file__).resolve().parents[2]
SUB = "00000000-0000-0000-0000-000000000000"
POOL_RG = "rg-avd-hosts"


def pool_id(name: str) -> str:
    return f"/subscriptions/{SUB}/resourceGroups/{POOL_RG}/providers/Microsoft.DesktopVirtualization/hostPools/{name}"


def auto_policy(**changes: object) -> HostPoolPolicy:
    data: dict[str, object] = {
        "id": pool_id("hp-office-auto"),
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
    data: dict[str, object] = {"id": pool_id("hp-office-manual"), "rollout": "manual", "max_unavailable_percent": 50}
    data.update(changes)
    return HostPoolPolicy.model_validate(data)


def with_pools(catalog: Catalog, workload: str, *pools: HostPoolPolicy) -> Catalog:
    changed = [w.model_copy(update={"host_pools": pools}) if w.name == workload else w for w in catalog.workloads]
    return Catalog(workloads=tuple(changed))


def catalog_with_pools(*pools: HostPoolPolicy) -> Catalog:
    return with_pools(load_catalog(ROOT / "catalog"), "office", *pools)


def office_to_production(runtime: LocalRuntime, version: str) -> None:
    """Validation then production; stops a few hours later, before any maintenance window opens."""
    for stage, approver in SIGNERS:
        runtime.submit(
            Promote(
                workload="office",
                version=version,
                target_stage=stage,
                approver_token=runtime.issuer.token_for(approver),
                ticket=f"CHG-{version}",
                reason="pilot signed off",
                requested_at=runtime.sim.clock.now(),
            )
        )
        runtime.run(until=runtime.sim.clock.now() + PROMOTION_TIME)


def image_id(runtime: LocalRuntime, version: str) -> str:
    return gallery_version_id(runtime.deps, runtime.catalog.get("office"), VersionNumber.parse(version))


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
    assert runtime.deps.hostpools is not None
    return Counter(h.exact_version for h in runtime.deps.hostpools.hosts(policy.id))
